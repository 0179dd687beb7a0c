import BotKit
import Echo
import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Mynah

/// A test plugin that answers `chart` with an image into the conversation and `report` with a file sent to bob.
struct Charts: BotKit.Plugin {
    static let pluginName = "charts"
    init(configuration: JSONValue) throws(ProtocolError) {}

    func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        guard case .message(let m) = event else { return [] }
        switch m.text {
        case "chart": return [.attach(Attachment(kind: .image, content: MediaEndToEndTests.png, filename: "chart.png"))]
        case "report":
            return [.attach(Attachment(kind: .file, content: Array("a,b\n1,2\n".utf8), filename: "report.csv"),
                            to: .single("bob_b"))]
        case "abroad":
            return [.attach(Attachment(kind: .file, content: Array("far".utf8), filename: "far.txt"),
                            to: .single("carol", appKey: "other-app-key"))]
        case "bad image": return [.attach(Attachment(kind: .image, content: Array("no".utf8), filename: "x.png"))]
        default: return [.reply(.text("unknown: \(m.text ?? "")"))]
        }
    }
}

/// Plugins send images and files: the bot uploads the bytes to the hub's media store over REST and sends the
/// message that refers to the upload; recipients download the same bytes.
@Suite struct BotAttachmentTests {
    static let options = Daemon.Options(passwordCost: 4, plugins: PluginRegistry([Echo.self, Charts.self]))

    @Test func aSwiftPluginRepliesWithAnImageAndSendsAFileElsewhere() async throws {
        try await Demo.withDaemon(options: Self.options, configure: {
            $0.bots = [Demo.bot(plugins: [Demo.plugin("charts")])]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let bob = Inbox(try await Demo.user(daemon, port: port, "bob_b"))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("chart")))
            let image = try await alice.nextMessage()
            #expect(image.fromID == "helper_bot")
            guard case .image(let body) = image.body else { Issue.record("expected an image, got \(image.body)"); return }
            #expect(body.width == 6 && body.height == 4 && body.format == "png")
            #expect(body.fsize == Int64(MediaEndToEndTests.png.count))
            // The media id leads to the same bytes.
            let url = try #require(try await REST(port: port).call("GET", "/v1/resource?mediaId=\(body.mediaID)")
                .json?["url"]?.stringValue)
            #expect(try await MediaEndToEndTests.fetch(url).body == MediaEndToEndTests.png)

            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("report")))
            let file = try await bob.nextMessage()
            guard case .file(let csv) = file.body else { Issue.record("expected a file, got \(file.body)"); return }
            #expect(csv.fname == "report.csv" && csv.fsize == 8)

            // An upload the hub refuses is the plugin's failed action; the bot goes on.
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("bad image")))
            #expect(try await alice.ask("helper_bot", "more") == "unknown: more")
        }
    }

    @Test func aFileForAnotherAppIsUploadedIntoThatAppSoItsClientsCanFetchIt() async throws {
        let otherApp = "other-app-key", otherSecret = "other-secret"
        try await Demo.withDaemon(options: Self.options, configure: {
            var other = MynahConfiguration.App(appKey: otherApp, masterSecret: otherSecret)
            other.crossApp = [Demo.appKey]
            $0.apps.append(other)
            $0.bots = [Demo.bot(plugins: [Demo.plugin("charts")])]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let carol = Inbox(try await Demo.user(daemon, port: port, "carol", appKey: otherApp))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("abroad")))
            let file = try await carol.nextMessage()
            guard case .file(let body) = file.body else { Issue.record("expected a file, got \(file.body)"); return }
            // Carol's app resolves the media id with its own credentials.
            let otherBasic = "Basic " + Data("\(otherApp):\(otherSecret)".utf8).base64EncodedString()
            let url = try #require(try await REST(port: port).call("GET", "/v1/resource?mediaId=\(body.mediaID)",
                                                                   authorization: otherBasic).json?["url"]?.stringValue)
            #expect(try await MediaEndToEndTests.fetch(url).body == Array("far".utf8))
        }
    }

    @Test func anExternalPluginSendsAFileAsBase64() async throws {
        let script = Demo.repository.appendingPathComponent("Tests/MynahTests/Fixtures/attach.py").path
        try await Demo.withDaemon(configure: { $0.bots = [Demo.bot(plugins: [Demo.python(script)])] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("/bad")))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("written down")))
            // The broken answer is refused with its field; the next one arrives as a file.
            let file = try await alice.nextMessage()
            guard case .file(let body) = file.body else { Issue.record("expected a file, got \(file.body)"); return }
            #expect(body.fname == "said.txt" && body.fsize == 12)
            let url = try #require(try await REST(port: port).call("GET", "/v1/resource?mediaId=\(body.mediaID)")
                .json?["url"]?.stringValue)
            #expect(try await MediaEndToEndTests.fetch(url).body == Array("written down".utf8))
        }
    }

    @Test func attachmentsInPluginAnswersAreCheckedFieldByField() throws {
        let png = Data(MediaEndToEndTests.png).base64EncodedString()
        let reply = try BotAction(json: ["type": "reply", "attachment": ["kind": "image", "name": "c.png", "base64": .string(png)]],
                                  path: "actions[0]")
        #expect(reply == .attach(Attachment(kind: .image, content: MediaEndToEndTests.png, filename: "c.png")))
        #expect(try BotAction(json: reply.json, path: "a") == reply)
        let send = try BotAction(json: ["type": "send", "to": ["type": "group", "id": "10000001"],
                                        "attachment": ["kind": "file", "name": "r.csv", "base64": "YQ=="]], path: "a")
        #expect(send == .attach(Attachment(kind: .file, content: [97], filename: "r.csv"), to: .group("10000001")))
        #expect(try BotAction(json: send.json, path: "a") == send)

        func refusal(_ attachment: JSONValue, extra: [String: JSONValue] = [:]) -> String {
            var o: [String: JSONValue] = ["type": "send", "to": ["id": "bob"], "attachment": attachment]
            o.merge(extra) { $1 }
            do {
                _ = try BotAction(json: .object(o), path: "actions[0]")
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(refusal(["kind": "video", "name": "v", "base64": "YQ=="]) == "actions[0].attachment.kind: expected image or file")
        #expect(refusal(["kind": "file", "name": "", "base64": "YQ=="]) == "actions[0].attachment.name: expected a non-empty file name")
        #expect(refusal(["kind": "file", "name": "f"]) == "actions[0].attachment.base64: required: the file's bytes in base64")
        #expect(refusal(["kind": "file", "name": "f", "base64": "%%%"]) == "actions[0].attachment.base64: not valid base64")
        #expect(refusal(["kind": "file", "name": "f", "base64": ""]) == "actions[0].attachment.base64: the file must have 1 to 8388608 bytes, has 0")
        #expect(refusal(["kind": "file", "name": "f", "base64": "YQ==", "path": "/etc/passwd"])
                == "actions[0].attachment.path: unknown key; an attachment takes kind, name and base64")
        #expect(refusal(["kind": "file", "name": "f", "base64": "YQ=="], extra: ["via": "other"])
                == "actions[0].via: not supported with an attachment")
    }

    @Test func aRemoteBotUploadsToItsHubsRESTAPI() {
        #expect(BotRuntime.httpBase(ofGateway: "ws://10.0.0.5:8080/gateway") == "http://10.0.0.5:8080")
        #expect(BotRuntime.httpBase(ofGateway: "wss://chat.example.com/gateway") == "https://chat.example.com")
        #expect(BotRuntime.httpBase(ofGateway: "wss://u:p@example.com/mynah/gateway?x=1") == "https://example.com/mynah")
    }

    @Test func aRemoteHubsMasterSecretIsOnlyAcceptedOverTLSOrLoopback() throws {
        func bot(_ url: String) throws -> MynahConfiguration.BotOptions {
            try ConfigurationLoader.parse(yaml: """
                bots:
                  - name: r
                    appkey: remote-app
                    username: remote_bot
                    password: secret-1
                    plugins: [swift: echo]
                    hub:
                      url: \(url)
                      master_secret: s3cret
                """, fileName: "bots.yaml").bots[0].options
        }
        #expect(try bot("wss://chat.example.com/gateway").hubMasterSecret == "s3cret")
        #expect(try bot("ws://127.0.0.1:9000/gateway").hubMasterSecret == "s3cret")
        #expect {
            _ = try bot("ws://chat.example.com/gateway")
        } throws: { error in
            "\(error)" == "bots.yaml:9:22: bots[0].hub.master_secret: needs a wss:// hub.url (or a loopback host): "
                + "the secret is sent with every upload"
        }
    }
}
