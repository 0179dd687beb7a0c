import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
@testable import Mynah

/// Bots end to end through a real daemon: commands, help and access, rate limits, listen filters, reminders
/// across a restart and relays across AppKeys.
@Suite struct BotTests {
    static let commandsBot = Demo.bot(
        plugins: [Demo.plugin("commands"), Demo.plugin("reminder", config: ["roles": ["staff"]])],
        options: .init(roles: ["staff": ["alice"]]))

    @Test func helpListsTheDeclaredCommandsAndAccessIsChecked() async throws {
        try await Demo.withDaemon(configure: { $0.bots = [Self.commandsBot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let bob = Inbox(try await Demo.user(daemon, port: port, "bob_b"))
            #expect(try await alice.ask("helper_bot", "/help") == """
                Commands:
                /help [command] - List the commands you may run, or explain one
                /remind <when> <text...> - Remind this conversation: when is 10m, 2h, 1d or HH:MM
                /reminders - List this conversation's pending reminders
                """)
            // bob lacks the staff role: /remind is not in his help, and running it is refused.
            #expect(try await bob.ask("helper_bot", "/help") == """
                Commands:
                /help [command] - List the commands you may run, or explain one
                /reminders - List this conversation's pending reminders
                """)
            #expect(try await bob.ask("helper_bot", "/remind 10m tea") == "/remind: permission denied (needs the role staff)")
            #expect(try await alice.ask("helper_bot", "/remind") == "/remind: missing argument <when>\nusage: /remind <when> <text...>")
            #expect(try await alice.ask("helper_bot", "/help remind") == """
                /remind <when> <text...>
                Remind this conversation: when is 10m, 2h, 1d or HH:MM
                needs the role staff
                """)
            #expect(try await alice.ask("helper_bot", "/nosuch") == "unknown command /nosuch; try /help")
            #expect(try await alice.ask("helper_bot", "/reminders") == "no pending reminders")
        }
    }

    @Test func aReminderDueDuringARestartFiresWhenTheDaemonIsBack() async throws {
        let dir = try TemporaryDirectory()
        let start: Int64 = 1_750_000_000_000
        var options = Daemon.Options(passwordCost: 4)
        options.botClock = ManualBotClock(now: start)
        let first = try await Demo.daemon(dir, options: options) { $0.bots = [Self.commandsBot] }
        try await first.withRunning { port in
            let alice = Inbox(try await Demo.user(first, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "/remind 5m tea").hasPrefix("ok, I will remind you at "))
            #expect(try await alice.ask("helper_bot", "/reminders").hasSuffix(": tea"))
            alice.client.close()
        }
        // Ten minutes later, a new daemon on the same data directory.
        options.botClock = ManualBotClock(now: start + 10 * 60_000)
        let second = try await Demo.daemon(dir, options: options) { $0.bots = [Self.commandsBot] }
        try await second.withRunning { port in
            let alice = Inbox(try await Demo.client(port: port, username: "alice", password: "alice-pass"))
            // Replies the first session had not acknowledged yet may come first; the reminder follows them.
            var text = try await alice.next()
            for _ in 0..<2 where !text.hasPrefix("⏰") { text = try await alice.next() }
            #expect(text == "⏰ tea")
            #expect(try await alice.ask("helper_bot", "/reminders") == "no pending reminders")
        }
    }

    @Test func aReminderFiresOnTheMinuteTickOfTheClock() async throws {
        let start: Int64 = 1_750_000_000_000
        let clock = ManualBotClock(now: start)
        var options = Daemon.Options(passwordCost: 4)
        options.botClock = clock
        try await Demo.withDaemon(options: options, configure: { $0.bots = [Self.commandsBot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "/remind 2m stretch").hasPrefix("ok"))
            await clock.waitForSleepers(1)                 // the reminder's minute schedule is armed
            clock.advance(to: start + 60_000)              // not due yet: nothing is sent
            await clock.waitForSleepers(1)
            clock.advance(to: start + 3 * 60_000)
            #expect(try await alice.next() == "⏰ stretch")
        }
    }

    @Test func outgoingMessagesAreRateLimitedPerBot() async throws {
        let start: Int64 = 1_750_000_000_000
        let clock = ManualBotClock(now: start)
        var options = Daemon.Options(passwordCost: 4)
        options.botClock = clock
        let bot = Demo.bot(plugins: [Demo.plugin("echo")], options: .init(rateLimit: 2, ratePeriod: .seconds(60)))
        try await Demo.withDaemon(options: options, configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            for text in ["m1", "m2", "m3"] { _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text(text))) }
            #expect(try await alice.next() == "m1")
            #expect(try await alice.next() == "m2")
            await daemon.runningBot(named: "helper")?.waitForRateLimited(1)   // m3 was dropped
            clock.advance(to: start + 60_000)
            // After a minute the bucket is full again.
            #expect(try await alice.ask("helper_bot", "m4") == "m4")
        }
    }

    @Test func pipelinedRepliesKeepTheirOrderPerConversation() async throws {
        let bot = Demo.bot(plugins: [Demo.plugin("echo")], options: .init(rateLimit: 1000, ratePeriod: .seconds(1)))
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let carol = Inbox(try await Demo.user(daemon, port: port, "carol"))
            // Both users' messages are all in the bot's inbox before its first reply is stored.
            for i in 0..<30 {
                _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("a\(i)")))
                _ = try await carol.client.send(.init(targetID: "helper_bot", body: .text("c\(i)")))
            }
            for i in 0..<30 { #expect(try await alice.next() == "a\(i)") }
            for i in 0..<30 { #expect(try await carol.next() == "c\(i)") }
            await daemon.runningBot(named: "helper")?.flushSends()
        }
    }

    @Test func twoBotsInTwoAppKeysRelayBothWaysWithoutALoop() async throws {
        let otherApp = "other-app-key"
        var ra = Demo.bot("ra", username: "relay_a", plugins: [Demo.plugin("relay", config: [
            "routes": [["from": ["type": "single", "id": "alice"],
                        "to": ["type": "single", "id": "carol", "appkey": .string(otherApp)], "via": "rb"]],
        ])], options: .init(acceptRelayFrom: ["rb"]))
        ra.options.listen.ignoreRobots = false
        var rb = Demo.bot("rb", username: "relay_b", plugins: [Demo.plugin("relay", config: [
            "routes": [["from": ["type": "single", "id": "carol"],
                        "to": ["type": "single", "id": "alice", "appkey": .string(Demo.appKey)], "via": "ra"]],
        ])], options: .init(acceptRelayFrom: ["ra"]))
        rb.appKey = otherApp
        rb.options.listen.ignoreRobots = false
        try await Demo.withDaemon(configure: {
            $0.apps.append(.init(appKey: otherApp, masterSecret: "other-secret"))
            $0.bots = [ra, rb]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let carol = Inbox(try await Demo.user(daemon, port: port, "carol", appKey: otherApp))
            _ = try await alice.client.send(.init(targetID: "relay_a", body: .text("hi carol")))
            let relayed = try await carol.nextMessage()
            #expect(relayed.body.text == "alice: hi carol")
            #expect(relayed.fromID == "relay_b")
            #expect(relayed.fromAppKey == otherApp)
            _ = try await carol.client.send(.init(targetID: "relay_b", body: .text("hi alice")))
            #expect(try await alice.next() == "carol: hi alice")
            // Nothing bounced in between: the next message each sees is the next one relayed.
            _ = try await alice.client.send(.init(targetID: "relay_a", body: .text("bye")))
            #expect(try await carol.next() == "alice: bye")
        }
    }

    @Test func relayedMessagesAreNotRelayedAgainEvenBetweenBotsThatListenToRobots() async throws {
        // r1 forwards alice's messages to r2, r2 forwards r1's to r1 and to alice, r1 forwards r2's to r2:
        // without the hop limit this would bounce between the two robots forever.
        func relay(_ routes: [(String, String)]) -> MynahConfiguration.Plugin {
            Demo.plugin("relay", config: ["max_hops": 2, "name_prefix": false, "routes": .array(routes.map {
                ["from": ["id": .string($0.0)], "to": ["id": .string($0.1)]]
            })])
        }
        var r1 = Demo.bot("r1", username: "relay_one", plugins: [relay([("alice", "relay_two"), ("relay_two", "relay_two")])])
        var r2 = Demo.bot("r2", username: "relay_two", plugins: [relay([("relay_one", "relay_one"), ("relay_one", "alice")])])
        r1.options.listen.ignoreRobots = false
        r2.options.listen.ignoreRobots = false
        try await Demo.withDaemon(configure: { $0.bots = [r1, r2] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            _ = try await alice.client.send(.init(targetID: "relay_one", body: .text("ping 1")))
            let first = try await alice.nextMessage()
            #expect(first.body.text == "ping 1")
            #expect(first.fromID == "relay_two")
            _ = try await alice.client.send(.init(targetID: "relay_one", body: .text("ping 2")))
            #expect(try await alice.next() == "ping 2")
            let history = try await daemon.hub.inbox(userID: daemon.hub.user(appKey: Demo.appKey, username: "relay_one").id,
                                                     after: 0)
            // r1 got alice's two messages and r2's two hop-2 copies, and relayed none of those copies.
            #expect(history.count <= 4)
        }
    }
}
