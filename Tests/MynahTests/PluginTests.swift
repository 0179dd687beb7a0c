import BotKit
import Foundation
import Hummingbird
import IMClient
import IMProtocol
import Logging
import Synchronization
import Testing
import MynahTesting
@testable import Mynah

/// External (`exec:`) and webhook plugins end to end through a real daemon, with real child processes and a
/// real HTTP server on loopback.
@Suite struct PluginTests {
    static let examples = Demo.repository.appendingPathComponent("Plugins/examples").path
    static let misbehaving = Demo.repository.appendingPathComponent("Tests/MynahTests/Fixtures/misbehaving.py").path

    @Test func thePythonShoutExampleDeclaresCommandsAndKeepsDurableData() async throws {
        let bot = Demo.bot(plugins: [Demo.plugin("commands"), Demo.python("\(Self.examples)/shout.py",
                                                                          config: ["suffix": "!!"])])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "/help") == """
                Commands:
                /help [command] - List the commands you may run, or explain one
                /shout <text...> - Say it louder
                /shouts - How many shouts so far
                """)
            #expect(try await alice.ask("helper_bot", "/shout hello there") == "HELLO THERE!!")
            #expect(try await alice.ask("helper_bot", "/shout again") == "AGAIN!!")
            #expect(try await alice.ask("helper_bot", "/shouts") == "2 shouts so far")
            #expect(try await alice.ask("helper_bot", "/shout") == "/shout: missing argument <text>\nusage: /shout <text...>")
        }
    }

    @Test func thePythonGreeterExampleAnswersMessages() async throws {
        let bot = Demo.bot(plugins: [Demo.python("\(Self.examples)/greeter.py", config: ["greeting": "good day"])])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "Hello bot") == "good day, alice")
        }
    }

    @Test func aPluginThatCrashesIsRestartedAndTheOthersGoOn() async throws {
        let bot = Demo.bot(plugins: [Demo.plugin("echo"), Demo.python(Self.misbehaving)])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "crash") == "crash")      // echo answers, the plugin dies
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("ping")))
            #expect(try await alice.next(2) == ["ping", "pong"])               // restarted and answering
        }
    }

    @Test func aPluginThatHangsIsKilledAfterItsTimeoutAndRestarted() async throws {
        let bot = Demo.bot(plugins: [Demo.plugin("echo"), Demo.python(Self.misbehaving, timeout: .seconds(3))])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("hang")))
            #expect(try await alice.next() == "hang")                          // echo is not held up
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("ping")))
            #expect(try await alice.next(2) == ["ping", "pong"])
        }
    }

    /// The event queued behind one that hung gets its whole time limit from the restarted program: the restart
    /// (here 2 s, twice the limit) is not counted against it.
    @Test func aRestartDoesNotUseUpTheNextEventsTimeLimit() async throws {
        let dir = try TemporaryDirectory()
        let plugin = Demo.python(Self.misbehaving, config: ["slow_restart": 2, "marker": .string(dir.path + "/started")],
                                 timeout: .seconds(1))
        let bot = Demo.bot(plugins: [Demo.plugin("echo"), plugin])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            // Both queued at once: "ping" waits for "hang" to time out and for the program's slow restart.
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("hang")))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("ping")))
            #expect(try await alice.next(3) == ["hang", "ping", "pong"])
        }
    }

    @Test func garbageOnStdoutIsIgnored() async throws {
        let bot = Demo.bot(plugins: [Demo.python(Self.misbehaving)])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "garbage") == "pong")
            #expect(try await alice.ask("helper_bot", "ping") == "pong")
        }
    }

    @Test func aVeryLongLineAndManyLinesAreReadAndTheAnswerAfterThemArrives() async throws {
        // A time limit generous enough for 5 MB through a pipe on a loaded machine: the test is about the reading.
        let bot = Demo.bot(plugins: [Demo.python(Self.misbehaving, timeout: .seconds(60))])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            // 100000 blank lines, then a 5 MB answer line (a line over the limit: LineSplitterTests).
            #expect(try await alice.ask("helper_bot", "flood") == "flooded")
            #expect(try await alice.ask("helper_bot", "ping") == "pong")
        }
    }

    @Test func aPluginThatKeepsCrashingIsQuarantined() async throws {
        let bot = Demo.bot(plugins: [Demo.plugin("echo"),
                                     Demo.python(Self.misbehaving, id: "bad", config: ["crash_at_start": true],
                                                 quarantineAfter: 3)])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "still here") == "still here")
            let plugin = try #require(daemon.runningBot(named: "helper")?.slots[1].plugin as? ExternalPlugin)
            await plugin.waitForStatus { if case .quarantined = $0 { true } else { false } }
            guard case .quarantined(let reason) = await plugin.currentStatus else { return }
            #expect(reason.hasPrefix("3 failures in a row; last: exited with status 3"))
            #expect(try await alice.ask("helper_bot", "after") == "after")
        }
    }

    @Test func aPluginThatRefusesItsConfigurationIsQuarantinedWithTheReason() async throws {
        let bot = Demo.bot(plugins: [Demo.python("\(Self.examples)/shout.py", config: ["volume": 11]),
                                     Demo.plugin("echo")])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "up?") == "up?")         // the bot runs
            let plugin = try #require(daemon.runningBot(named: "helper")?.slots[0].plugin as? ExternalPlugin)
            await plugin.waitForStatus { if case .quarantined = $0 { true } else { false } }
            #expect(await plugin.currentStatus == .quarantined(reason: "unknown config key 'volume'; shout takes only 'suffix'"))
        }
    }

    /// What the webhook endpoint saw.
    struct HookLog: Sendable {
        var deliveries: [String] = []
        var signaturesValid: [Bool] = []
        var events: [JSONValue] = []
    }

    @Test func aWebhookGetsSignedEventsIsRetriedAndAnswersWithActions() async throws {
        let log = Mutex(HookLog())
        let secret = "hook-secret"
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let bytes = Array(body.readableBytesView)
            let signature = request.headers[.init("X-Mynah-Signature")!] ?? ""
            let delivery = request.headers[.init("X-Mynah-Delivery")!] ?? ""
            let json = try JSONValue.parse(bytes)
            guard json["event"]?["type"] == "message" else { return Response(status: .noContent) }
            let attempt = log.withLock { l -> Int in
                l.deliveries.append(delivery)
                l.signaturesValid.append(signature == WebhookPlugin.signature(of: bytes, secret: secret))
                l.events.append(json)
                return l.deliveries.count
            }
            if attempt == 1 { return Response(status: .serviceUnavailable) }   // the first attempt fails
            let text = json["event"]?["text"]?.stringValue ?? ""
            let answer: JSONValue = ["actions": [["type": "reply", "text": .string("hooked: \(text)")],
                                                 ["type": "store", "key": "last", "value": .string(text)]]]
            return Response(status: .ok, body: .init(byteBuffer: .init(bytes: answer.serialized())))
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                 onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
                                 logger: Logger(label: "hook"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.runService() }
            var ports = portStream.makeAsyncIterator()
            let hookPort = try #require(await ports.next())
            var plugin = Demo.plugin(config: ["mood": "good"], options: .init(id: "hook", timeout: .seconds(5)))
            plugin.options.webhook = .init(url: "http://127.0.0.1:\(hookPort)/hook", secret: secret, retries: 2)
            let bot = Demo.bot(plugins: [plugin])
            try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
                let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
                #expect(try await alice.ask("helper_bot", "one") == "hooked: one")
                #expect(try await alice.ask("helper_bot", "two") == "hooked: two")
                // In a group the answer goes to the group.
                let gid = try await BotGroupTests.group(port, owner: "alice", ["helper_bot"])
                _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: .text("three")))
                let inGroup = try await alice.nextMessage()
                #expect(inGroup.body.text == "hooked: three")
                #expect(inGroup.targetType == .group && inGroup.targetID == gid && inGroup.fromID == "helper_bot")
            }
            group.cancelAll()
        }
        let seen = log.withLock { $0 }
        #expect(seen.deliveries.count == 4)
        #expect(seen.deliveries[0] == seen.deliveries[1])           // a retry keeps its delivery id
        #expect(seen.deliveries[1] != seen.deliveries[2])
        #expect(seen.signaturesValid == [true, true, true, true])
        #expect(seen.events[3]["event"]?["conversation"]?["type"] == "group")
        #expect(seen.events[0]["config"] == ["mood": "good"])
        #expect(seen.events[0]["event"]?["text"] == "one")
        #expect(seen.events[0]["event"]?["sender"]?["username"] == "alice")
        #expect(seen.events[0]["data"] == [:])
        #expect(seen.events[2]["data"] == ["last": "one"])          // what the first answer stored
    }
}
