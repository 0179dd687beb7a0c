import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import Testing
@testable import Mynah
import MynahTesting
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Message routing out of the hub (`callbacks:`) against a receiver on loopback: JMessage's format, batching, order,
/// retries after 500s and timeouts, dead letters and their replay, and nothing lost across restarts and kill -9;
/// each on SQLite and on PostgreSQL (`MYNAH_TEST_POSTGRES_URL`), where the cursors and dead letters are the cluster's.
@Suite struct CallbackTests {
    static func hook(_ port: Int) -> String { "http://127.0.0.1:\(port)/hook" }

    /// SQLite only: the heaviest routing test (250 messages, a hanging receiver); on PostgreSQL order and retries are
    /// checked by the kill -9 test below and by `CallbackClusterTests`.
    @Test(arguments: ["sqlite"])
    func batchesGoInOrderAndAreRetriedAfterFailuresAndTimeouts(backend: String) async throws {
        try await ScheduleClaimTests.onBackend(backend) { storage, _ in
            // Fails twice, hangs once (the attempt times out), then fails until every message is stored.
            let receiver = RoutingReceiver(script: [.fail, .fail, .hang], then: .fail)
            try await receiver.run { rport in
                try await Demo.withDaemon(configure: { c in
                    storage(&c)
                    c.bots = []
                    c.callbacks = [.init(appKey: Demo.appKey, url: Self.hook(rport), secret: "hook-secret",
                                         timeout: .milliseconds(300), backoff: .milliseconds(10),
                                         maxBackoff: .milliseconds(50), deadAfter: 1000, batchWait: .milliseconds(100))]
                }) { daemon, port in
                    let log = ReceivedLog(receiver)
                    let alice = try await Demo.user(daemon, port: port, "alice")
                    let bob = try await Demo.user(daemon, port: port, "bob_b")
                    var sent: [Int64] = []
                    for i in 0..<250 {
                        let from = i % 3 == 0 ? bob : alice
                        sent.append(try await from.send(.init(targetID: i % 3 == 0 ? "alice" : "bob_b",
                                                              body: .text("m\(i)"))).msgID)
                    }
                    receiver.answer(.ok)
                    let ids = try await log.accepted(until: Set(sent))
                    alice.close()
                    bob.close()
                    // At least once, in order (so in order per conversation): repeats only of whole batches sent again.
                    #expect(ids.firstOccurrences == sent)
                    let requests = log.all
                    #expect(requests.prefix(3).map(\.answer) == [.fail, .fail, .hang])
                    #expect(requests[1].msgIDs == requests[0].msgIDs && requests[2].msgIDs == requests[0].msgIDs,
                            "a retry carries the same batch")
                    for request in requests {
                        #expect(request.authorization == Demo.basic)
                        #expect(request.contentType == "application/json; charset=utf-8")
                        #expect(request.msgIDs.count <= 100)
                        #expect(request.total == Int64(request.msgIDs.count))
                        let timestamp = try #require(request.timestamp)
                        #expect(request.signature == WebhookPlugin.signature(of: Array("\(timestamp).".utf8) + request.body,
                                                                             secret: "hook-secret"))
                    }
                    // Once the receiver is back, what waited goes in full batches of 100 (the first was formed earlier).
                    let accepted = requests.filter { $0.answer == .ok }.map(\.msgIDs.count)
                    #expect(accepted.dropFirst().dropLast().allSatisfy { $0 == 100 }, "\(accepted)")
                    #expect(accepted.count <= 4, "\(accepted)")
                    // The history API's shape.
                    let first = try #require(try JSONValue.parse(requests[0].body)["messages"]?.arrayValue?.first)
                    for key in ["target_type", "msg_type", "target_name", "target_id", "from_id", "from_name", "from_type",
                                "from_platform", "msg_body", "create_time", "version", "msgid", "msg_level", "msg_ctime"] {
                        #expect(first[key] != nil, "missing \(key)")
                    }
                    #expect(first["from_platform"]?.stringValue?.isEmpty == false)
                    #expect(first["msg_body"]?["text"]?.stringValue == "m0")
                }
            }
        }
    }

    @Test func conversationsNotRoutedStayOut() async throws {
        let receiver = RoutingReceiver()
        try await receiver.run { rport in
            try await Demo.withDaemon(configure: { c in
                c.bots = []
                c.callbacks = [.init(appKey: Demo.appKey, url: Self.hook(rport), conversations: [.group],
                                     batchWait: .milliseconds(20))]
            }) { daemon, port in
                let log = ReceivedLog(receiver)
                let alice = try await Demo.user(daemon, port: port, "alice")
                try await Demo.register(daemon, "bob_b", password: "bob-pass")
                _ = try await alice.send(.init(targetID: "bob_b", body: .text("single, not routed")))
                let created = try await REST(port: port).call("POST", "/v1/groups/", body: """
                    {"owner_username":"alice","name":"g","members_username":["bob_b"]}
                    """)
                let gid = try #require(created.json?["gid"]?.intValue)
                let group = try await alice.send(.init(targetType: .group, targetID: String(gid), body: .text("routed")))
                let ids = try await log.accepted(until: [group.msgID])
                alice.close()
                #expect(ids == [group.msgID])
            }
        }
    }

    @Test(arguments: ScheduleClaimTests.backends)
    func batchesThatKeepFailingBecomeDeadLettersShownInMetricsAndReplayed(backend: String) async throws {
        try await ScheduleClaimTests.onBackend(backend) { storage, _ in
            let receiver = RoutingReceiver(then: .fail)
            try await receiver.run { rport in
                try await Demo.withDaemon(configure: { c in
                    storage(&c)
                    c.bots = []
                    c.callbacks = [.init(appKey: Demo.appKey, url: Self.hook(rport), backoff: .milliseconds(10),
                                         maxBackoff: .milliseconds(20), deadAfter: 2, batchWait: .milliseconds(50))]
                }) { daemon, port in
                    let log = ReceivedLog(receiver)
                    let alice = try await Demo.user(daemon, port: port, "alice")
                    try await Demo.register(daemon, "bob_b", password: "bob-pass")
                    var lost: [Int64] = []
                    for i in 0..<3 { lost.append(try await alice.send(.init(targetID: "bob_b", body: .text("lost \(i)"))).msgID) }
                    // Every one of them refused twice: then they are dead letters and routing moves on.
                    var refusals: [Int64: Int] = [:]
                    while !lost.allSatisfy({ refusals[$0, default: 0] >= 2 }) {
                        for id in try await log.next().msgIDs { refusals[id, default: 0] += 1 }
                    }
                    receiver.answer(.ok)
                    let next = try await alice.send(.init(targetID: "bob_b", body: .text("after"))).msgID
                    #expect(try await log.accepted(until: [next]) == [next])

                    let dataDirectory = daemon.configuration.dataDirectory
                    let location = try DeadLetters.location(of: daemon.configuration, in: dataDirectory)
                    let letters = try await DeadLetters.list(configuration: daemon.configuration)
                    #expect(letters.reduce(0) { $0 + $1.count } == 3)
                    #expect(letters.allSatisfy { $0.attempts == 2 && $0.lastError == "HTTP 500" && !$0.replay })
                    let gauge = try await MetricsTests.scrape(port).samples
                        .filter { $0.key.hasPrefix("mynah_callback_dead_letters{") }.values.reduce(0, +)
                    #expect(Int(gauge) == letters.count)

                    let listed = try await CommandLineTests.run(["callbacks", "list"] + location, in: dataDirectory)
                    #expect(listed.status == 0, "\(listed.stderr)")
                    #expect(listed.stdout.split(separator: "\n").count == letters.count)
                    let replay = try await CommandLineTests.run(["callbacks", "replay", "--all"] + location, in: dataDirectory)
                    #expect(replay.status == 0, "\(replay.stderr)")
                    #expect(replay.stdout.contains("\(letters.count) dead letters marked for replay"))
                    // The running daemon sends them again, before anything newer.
                    let replayed = try await log.accepted(until: Set(lost))
                    let last = try await alice.send(.init(targetID: "bob_b", body: .text("last"))).msgID
                    _ = try await log.accepted(until: [last])
                    alice.close()
                    #expect(Set(replayed).isSuperset(of: lost))
                    #expect(try await DeadLetters.list(configuration: daemon.configuration).isEmpty)
                    let after = try await MetricsTests.scrape(port).samples
                        .filter { $0.key.hasPrefix("mynah_callback_dead_letters{") }.values.reduce(0, +)
                    #expect(after == 0)
                }
            }
        }
    }

    /// On PostgreSQL each start is another node: it takes the `callbacks` lease the dead one's connection held.
    @Test(arguments: ScheduleClaimTests.backends)
    func nothingIsLostAcrossKillNineAndRestart(backend: String) async throws {
        try await ReceiptCallbackTests.onBackendURL(backend) { storage in
            let receiver = RoutingReceiver(then: .fail)
            try await receiver.run { rport in
                let dir = try TemporaryDirectory()
                let config = try CrashRecoveryTests.writeConfig(dir, extra: storage)
                // The app's callbacks, added under the app the helper wrote.
                let yaml = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(
                    of: "    master_secret: \(Demo.secret)\n",
                    with: """
                            master_secret: \(Demo.secret)
                            callbacks:
                              - url: \(Self.hook(rport))
                                events: true
                                retry: { backoff: 10ms, max_backoff: 50ms }
                                dead_after: 1000
                                batch: { max: 10, wait: 50ms }

                        """)
                try yaml.write(toFile: config, atomically: true, encoding: .utf8)
                let log = ReceivedLog(receiver)

                // 1. The receiver is down: 30 messages wait, then the daemon is killed.
                let first = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
                let registered = try await REST(port: first.port).call("POST", "/v1/users/", body: """
                    [{"username":"alice","password":"alice-pass"},{"username":"bob_b","password":"bob-pass"}]
                    """)
                #expect(registered.status == 201)
                // An event first: it goes before the messages, so once they are in, it must be too.
                let group = try await REST(port: first.port).call("POST", "/v1/groups/", body: """
                    {"owner_username":"alice","name":"g","members_username":["bob_b"]}
                    """)
                let gid = try #require(group.json?["gid"]?.intValue)
                var sent: [Int64] = []
                let alice = try await Demo.client(port: first.port, username: "alice", password: "alice-pass")
                for i in 0..<30 { sent.append(try await alice.send(.init(targetID: "bob_b", body: .text("a\(i)"))).msgID) }
                alice.close()
                first.kill9()

                // 2. The receiver is back; the daemon is killed again once two batches went through.
                receiver.answer(.ok)
                let second = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
                var accepted = 0
                while accepted < 2 {
                    if try await log.next().answer == .ok { accepted += 1 }
                }
                second.kill9()

                // 3. Restarted once more, with more traffic: everything arrives, in order.
                let third = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
                defer { third.stop() }
                let again = try await Demo.client(port: third.port, username: "alice", password: "alice-pass")
                for i in 0..<10 { sent.append(try await again.send(.init(targetID: "bob_b", body: .text("b\(i)"))).msgID) }
                again.close()
                let ids = try await log.accepted(until: Set(sent))
                #expect(ids.firstOccurrences == sent)
                let events = log.all.filter { $0.answer == .ok }.flatMap { (try? JSONValue.parse($0.body))?["events"]?.arrayValue ?? [] }
                #expect(events.contains { $0["kind"]?.stringValue == "group_created" && $0["gid"]?.intValue == gid })
                withExtendedLifetime(dir) {}
            }
        }
    }
}

/// Bots on the real JMessage, with a second Mynah playing JMessage: daemon B hosts the app and routes its messages
/// to daemon A, whose bot (`hub: jmessage:`) answers through B's REST API.
@Suite struct JMessageBotTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/jmessage-routing-example.json")

    @Test func theDocumentedCallbackExampleParses() throws {
        let data = try Data(contentsOf: Self.fixture)
        let messages = try RoutingFormat.parse(Array(data))
        let m = try #require(messages.first)
        #expect(messages.count == 1)
        #expect(m.msgID == 12345678 && m.msgCtime == 1466866468352)
        #expect(m.message.targetType == .single && m.message.targetID == "10000002" && m.message.targetName == "JMessage")
        #expect(m.message.fromID == "10000001" && m.message.fromName == "JPush" && m.message.fromType == .user)
        #expect(m.message.fromPlatform == "a" && m.message.createTime == 1446016259)
        #expect(m.message.body.text == "text")
        // What Mynah sends parses back to the same message.
        let again = try RoutingFormat.parse(RoutingFormat.batch(messages, appKey: "k"))
        #expect(again.first?.message.body == m.message.body && again.first?.msgID == m.msgID)
    }

    @Test(arguments: [
        (#"{"total":1}"#, "messages: required"),
        (#"{"total":1,"messages":[{"msgid":1,"msg_ctime":2,"version":1,"target_type":"single","target_id":"b","from_type":"user","from_id":"a","create_time":1,"msg_type":"text","msg_body":{}}]}"#,
         "messages[0].msg_body.text"),
        (#"{"total":1,"messages":[{"msg_ctime":2}]}"#, "messages[0].msgid"),
    ])
    func badBodiesNameTheirField(body: String, field: String) throws {
        #expect(throws: ProtocolError.self) { try RoutingFormat.parse(Array(body.utf8)) }
        do {
            _ = try RoutingFormat.parse(Array(body.utf8))
        } catch {
            #expect(error.description.hasPrefix(field), "\(error)")
        }
    }

    @Test func aUserOnTheOtherHubTalksToTheBotAndRepeatedCallbacksReachThePluginOnce() async throws {
        let portA = try reservedPort()
        var testLogger = Logger(label: "mynah.test")
        testLogger.logLevel = .warning
        let logger = testLogger
        let dirB = try TemporaryDirectory(), dirA = try TemporaryDirectory()
        var configB = Demo.configuration(dataDirectory: dirB.path)
        configB.bots = []
        configB.callbacks = [.init(appKey: Demo.appKey, url: "http://127.0.0.1:\(portA)/jmessage/callback",
                                   backoff: .milliseconds(20), maxBackoff: .milliseconds(200), deadAfter: 1000,
                                   batchWait: .milliseconds(20))]
        let b = try await Daemon(configuration: configB, options: .init(passwordCost: 4), logger: logger)
        try await b.withRunning { portB in
            let rest = REST(port: portB)
            var configA = MynahConfiguration(listen: .init(host: "127.0.0.1", port: portA), dataDirectory: dirA.path)
            var bot = MynahConfiguration.Bot(name: "helper", appKey: Demo.appKey, username: "helper_bot",
                                             password: "helper-pass", nickname: "Helper",
                                             plugins: [.init(swift: "echo", config: ["prefix": "echo: "])])
            bot.options.jmessage = .init(appKey: Demo.appKey, masterSecret: Demo.secret, api: "http://127.0.0.1:\(portB)",
                                         report: "http://127.0.0.1:\(portB)")
            configA.bots = [bot]
            // On JMessage a bot's account is an admin; the bot registers it unless it exists, as here (so Alice can
            // write to it before A starts).
            let admin = try await rest.call("POST", "/v1/admins/", body: #"{"username":"helper_bot","password":"helper-pass"}"#)
            #expect(admin.status == 201)
            let a = try await Daemon(configuration: configA, options: .init(passwordCost: 4), logger: logger)
            try await a.withRunning { port in
                #expect(port == portA)
                let alice = Inbox(try await Demo.user(b, port: portB, "alice"))
                _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("hi")))
                let answer = try await alice.nextMessage()
                #expect(answer.body.text == "echo: hi")
                #expect(answer.fromID == "helper_bot" && answer.fromType == .admin)

                // The same callback twice: the plugin hears it once.
                let callbackURL = "/jmessage/callback"
                let repeated = """
                    {"total":1,"messages":[{"target_type":"single","msg_type":"text","target_name":"","target_id":"helper_bot",
                    "from_id":"alice","from_name":"","from_type":"user","from_platform":"a","msg_body":{"text":"twice"},
                    "create_time":1,"version":1,"msgid":990001,"msg_level":0,"msg_ctime":1000}]}
                    """
                let callA = REST(port: portA)
                #expect(try await callA.call("POST", callbackURL, body: repeated).status == 200)
                #expect(try await callA.call("POST", callbackURL, body: repeated).status == 200)
                _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("after")))
                #expect(try await alice.next() == "echo: twice")
                #expect(try await alice.next() == "echo: after")

                // Wrong credentials and bad bodies are refused, naming what is wrong.
                let wrong = try await callA.call("POST", callbackURL, body: repeated,
                                                 authorization: "Basic " + Data("\(Demo.appKey):nope".utf8).base64EncodedString())
                #expect(wrong.status == 401 && wrong.json?["error"]?["code"]?.intValue == 899008)
                let bad = try await callA.call("POST", callbackURL, body: #"{"total":1,"messages":[{"msgid":"x"}]}"#)
                #expect(bad.status == 400 && bad.json?["error"]?["code"]?.intValue == 899003)
                #expect(bad.json?["error"]?["message"]?.stringValue?.hasPrefix("messages[0].msgid") == true)
                alice.client.close()
            }
            withExtendedLifetime(dirA) {}
        }
        withExtendedLifetime(dirB) {}
    }
}

/// `callbacks:` of an app and `hub.jmessage` of a bot in `bots.yaml`.
@Suite struct CallbackConfigurationTests {
    static let app = """
        apps:
          - appkey: k1
            master_secret: s1

        """

    @Test func callbacksAndJMessageBotsAreRead() throws {
        let yaml = """
            apps:
              - appkey: k1
                master_secret: s1
                callbacks:
                  - url: https://example.com/jmessage
                  - url: http://127.0.0.1:9000/hook
                    conversations: [group, chatroom]
                    secret: hmac-key
                    timeout: 2s
                    retry: { backoff: 100ms, max_backoff: 10s }
                    dead_after: 3
                    batch: { max: 20, wait: 250ms }
                    events: [group_members_added, message_retracted]
                  - url: http://127.0.0.1:9000/all
                    events: true
            bridge:
              receipt_callbacks: { timeout: 2s, retry: { backoff: 50ms, max_backoff: 1s }, dead_after: 3 }
            bots:
              - name: helper
                appkey: jm_app
                username: helper_bot
                password: helper-pass
                hub:
                  jmessage:
                    master_secret: jm-secret
                    callback_path: /hooks/jm
                plugins: [{ swift: echo }]
            """
        let c = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml")
        #expect(c.callbacks.count == 3)
        #expect(c.callbacks[2].events == .all && c.callbacks[0].events == .none)
        var receipts = MynahConfiguration.ReceiptCallbacks()
        receipts.timeout = .seconds(2)
        receipts.backoff = .milliseconds(50)
        receipts.maxBackoff = .seconds(1)
        receipts.deadAfter = 3
        #expect(c.bridge.receiptCallbacks == receipts)
        #expect(c.callbacks[0] == .init(appKey: "k1", url: "https://example.com/jmessage"))
        var second = MynahConfiguration.Callback(appKey: "k1", url: "http://127.0.0.1:9000/hook",
                                                 conversations: [.group, .chatroom], secret: "hmac-key",
                                                 timeout: .seconds(2), backoff: .milliseconds(100),
                                                 maxBackoff: .seconds(10), deadAfter: 3, batchMax: 20)
        second.batchWait = .milliseconds(250)
        second.events = .kinds([.groupMembersAdded, .messageRetracted])
        #expect(c.callbacks[1] == second)
        let jm = try #require(c.bots.first?.options.jmessage)
        #expect(jm == .init(appKey: "jm_app", masterSecret: "jm-secret", callbackPath: "/hooks/jm"))
        #expect(jm.api == "https://api.im.jpush.cn" && jm.report == "https://report.im.jpush.cn")
    }

    @Test(arguments: [
        ("    callbacks:\n      - url: ftp://x\n", "bots.yaml:5:14: apps[0].callbacks[0].url: expected an http:// or https:// URL"),
        ("    callbacks:\n      - url: http://x/a\n        conversations: [single, room]\n",
         "bots.yaml:6:24: apps[0].callbacks[0].conversations: expected single, group or chatroom, got 'room'"),
        ("    callbacks:\n      - url: http://x/a\n        batch: { max: 101 }\n",
         "bots.yaml:6:23: apps[0].callbacks[0].batch.max: expected 1 to 100 messages, got 101"),
        ("    callbacks:\n      - url: http://x/a\n        events: [group_created, typing]\n",
         "bots.yaml:6:17: apps[0].callbacks[0].events: expected true, false or a list of group_created"),
        ("    callbacks:\n      - url: http://x/a\n        events: []\n",
         "bots.yaml:6:17: apps[0].callbacks[0].events: expected at least one event kind"),
        ("    callbacks:\n      - url: http://x/a\n        dead_after: 0\n",
         "bots.yaml:6:21: apps[0].callbacks[0].dead_after: expected 1 to 1000"),
        ("    callbacks:\n      - url: http://x/a\n        retries: 3\n",
         "bots.yaml:6:9: apps[0].callbacks[0]: unknown key 'retries'"),
    ])
    func badCallbacksPointAtTheirValue(extra: String, expected: String) {
        let yaml = "apps:\n  - appkey: k1\n    master_secret: s1\n" + extra
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml") }
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test(arguments: [
        ("      jmessage: { master_secret: s, api: http://example.com }\n",
         "bots.yaml:11:42: bots[0].hub.jmessage.api: expected an https:// URL (or a loopback host)"),
        ("      jmessage: { api: https://example.com }\n", "bots.yaml:11:17: bots[0].hub.jmessage.master_secret: missing required key"),
        ("      jmessage: { appkey: other, master_secret: s }\n",
         "bots.yaml:11:27: bots[0].hub.jmessage.appkey: expected the bot's own appkey 'jm'"),
        ("      jmessage: { master_secret: s, callback_path: /v1/users }\n",
         "bots.yaml:11:52: bots[0].hub.jmessage.callback_path: expected a path such as /jmessage/callback"),
        ("      url: ws://127.0.0.1:1/gateway\n      jmessage: { master_secret: s }\n",
         "bots.yaml:11:12: bots[0].hub.url: a bot's hub is either url (a Mynah gateway) or jmessage, not both"),
    ])
    func badJMessageHubsPointAtTheirValue(hub: String, expected: String) {
        let yaml = Self.app + """
            bots:
              - name: b
                appkey: jm
                username: helper_bot
                password: secret
                plugins: [{ swift: echo }]
                hub:

            """ + hub
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml") }
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func twoAppsCannotShareACallbackPath() throws {
        let yaml = Self.app + """
            bots:
              - name: one
                appkey: jm1
                username: bot_one
                password: secret
                plugins: [{ swift: echo }]
                hub: { jmessage: { master_secret: s1 } }
              - name: two
                appkey: jm2
                username: bot_two
                password: secret
                plugins: [{ swift: echo }]
                hub: { jmessage: { master_secret: s2 } }
            """
        let c = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml")
        #expect(throws: ConfigurationError.self) { try Daemon.check(c) }
    }
}
