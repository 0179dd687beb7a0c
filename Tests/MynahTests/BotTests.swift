import BotKit
import Foundation
import Hub
import IMClient
import MynahTesting
import Testing
@testable import Mynah

/// Bots end to end through a real daemon (``TestHub``): commands, help and access, rate limits, reminders on the
/// test's clock and across a restart, recurring cron messages, and relays across AppKeys.
@Suite struct BotTests {
    static let commandsBot = TestBot(
        "helper", username: "helper_bot",
        plugins: [.builtIn("commands"), .builtIn("reminder", config: ["roles": ["staff"]])],
        options: .init(roles: ["staff": ["alice"]]))

    @Test func helpListsTheDeclaredCommandsAndAccessIsChecked() async throws {
        try await TestHub.run(bots: [Self.commandsBot]) { hub in
            let alice = try await hub.user("alice")
            let bob = try await hub.user("bob_b")
            #expect(try await alice.ask("/help", to: "helper_bot") == """
                Commands:
                /help [command] - List the commands you may run, or explain one
                /remind <when> <text...> - Remind this conversation: when is 10m, 2h, 1d or HH:MM
                /reminders - List this conversation's pending reminders
                """)
            // bob lacks the staff role: /remind is not in his help, and running it is refused.
            #expect(try await bob.ask("/help", to: "helper_bot") == """
                Commands:
                /help [command] - List the commands you may run, or explain one
                /reminders - List this conversation's pending reminders
                """)
            #expect(try await bob.ask("/remind 10m tea", to: "helper_bot") == "/remind: permission denied (needs the role staff)")
            #expect(try await alice.ask("/remind", to: "helper_bot") == "/remind: missing argument <when>\nusage: /remind <when> <text...>")
            #expect(try await alice.ask("/help remind", to: "helper_bot") == """
                /remind <when> <text...>
                Remind this conversation: when is 10m, 2h, 1d or HH:MM
                needs the role staff
                """)
            #expect(try await alice.ask("/nosuch", to: "helper_bot") == "unknown command /nosuch; try /help")
            #expect(try await alice.ask("/reminders", to: "helper_bot") == "no pending reminders")
        }
    }

    @Test func aReminderDueDuringARestartFiresWhenTheDaemonIsBack() async throws {
        let data = try TemporaryDirectory()
        try await TestHub.run(bots: [Self.commandsBot], dataDirectory: data) { hub in
            let alice = try await hub.user("alice")
            #expect(try await alice.ask("/remind 5m tea", to: "helper_bot") == "ok, I will remind you at 2025-01-06 09:05 GMT")
            #expect(try await alice.ask("/reminders", to: "helper_bot") == "2025-01-06 09:05 GMT: tea")
            #expect(try await hub.store(bot: "helper", plugin: "reminder").entries(prefix: "r/").count == 1)
        }
        // Ten minutes later, a new daemon on the same data directory.
        try await TestHub.run(bots: [Self.commandsBot], now: TestHub.defaultStart + 10 * 60_000, dataDirectory: data) { hub in
            let alice = try await hub.login("alice")
            // Replies the first session had not acknowledged yet may come first; the reminder follows them.
            var text = try await alice.next()
            for _ in 0..<2 where !text.hasPrefix("⏰") { text = try await alice.next() }
            #expect(text == "⏰ tea")
            #expect(try await alice.ask("/reminders", to: "helper_bot") == "no pending reminders")
            #expect(try await hub.store(bot: "helper", plugin: "reminder").entries(prefix: "r/").isEmpty)
        }
    }

    @Test func aReminderFiresOnTheMinuteTickOfTheClock() async throws {
        try await TestHub.run(bots: [Self.commandsBot]) { hub in
            let alice = try await hub.user("alice")
            #expect(try await alice.ask("/remind 2m stretch", to: "helper_bot").hasPrefix("ok"))
            try await hub.advance(by: .seconds(60))          // not due yet: still stored, nothing sent
            #expect(try await hub.store(bot: "helper", plugin: "reminder").entries(prefix: "r/").count == 1)
            try await hub.advance(by: .seconds(120))
            #expect(try await alice.next() == "⏰ stretch")
            #expect(try await hub.store(bot: "helper", plugin: "reminder").entries(prefix: "r/").isEmpty)
            #expect(try await alice.ask("/reminders", to: "helper_bot") == "no pending reminders")
        }
    }

    @Test func aRecurringMessageFiresOnEveryCronMatchTheClockPasses() async throws {
        let standup = TestBot("standup", plugins: [.builtIn("reminder", config: ["recurring": [
            ["cron": "*/15 9 * * mon-fri", "to": ["type": "single", "id": "alice"], "text": "stand-up"],
        ]])])
        try await TestHub.run(bots: [standup]) { hub in
            let alice = try await hub.user("alice")
            // Monday 09:00 to 10:00: 09:15, 09:30 and 09:45 fire; 10:00 is outside the hour.
            try await hub.advance(by: .seconds(3600))
            for _ in 0..<3 { #expect(try await alice.next() == "stand-up") }
            try await hub.settle()
            #expect(try await alice.ask("/reminders", to: "standup_bot") == "no pending reminders")
        }
    }

    @Test func anExternalPluginsDeclaredScheduleFiresOnTheTestsClockInItsTimeZone() async throws {
        let greeter = TestPlugin.exec(["python3", Demo.repository.appendingPathComponent("Plugins/examples/greeter.py").path],
                                      config: ["morning": ["type": "single", "id": "alice"], "time_zone": "Europe/Berlin"])
        try await TestHub.run(bots: [TestBot("greeter", plugins: [greeter])]) { hub in
            let alice = try await hub.user("alice")
            // Monday 09:00 UTC is 10:00 in Berlin: the next 08:00 there is Tuesday 07:00 UTC.
            try await hub.advance(by: .seconds(21 * 3600 + 59 * 60))
            try await hub.settle()
            try await hub.advance(by: .seconds(60))
            #expect(try await alice.next() == "good morning")
            // Tuesday to Saturday morning: Wednesday, Thursday and Friday, not Saturday.
            try await hub.advance(by: .seconds(4 * 86_400))
            for _ in 0..<3 { #expect(try await alice.next() == "good morning") }
            #expect(try await alice.ask("hello", to: "greeter_bot") == "hello, alice")   // and nothing else came
        }
    }

    @Test func outgoingMessagesAreRateLimitedPerBot() async throws {
        let bot = TestBot("helper", plugins: [.builtIn("echo")], options: .init(rateLimit: 2, ratePeriod: .seconds(60)))
        try await TestHub.run(bots: [bot]) { hub in
            let alice = try await hub.user("alice")
            for text in ["m1", "m2", "m3"] { try await alice.send(text, to: "helper_bot") }
            #expect(try await alice.next() == "m1")
            #expect(try await alice.next() == "m2")
            await (try await hub.bot("helper")).waitForRateLimited(1)   // m3 was dropped
            try await hub.advance(by: .seconds(60))
            // After a minute the bucket is full again.
            #expect(try await alice.ask("m4", to: "helper_bot") == "m4")
        }
    }

    @Test func pipelinedRepliesKeepTheirOrderPerConversation() async throws {
        let bot = TestBot("helper", plugins: [.builtIn("echo")], options: .init(rateLimit: 1000, ratePeriod: .seconds(1)))
        try await TestHub.run(bots: [bot]) { hub in
            let alice = try await hub.user("alice")
            let carol = try await hub.user("carol")
            // Both users' messages are all in the bot's inbox before its first reply is stored.
            for i in 0..<30 {
                try await alice.send("a\(i)", to: "helper_bot")
                try await carol.send("c\(i)", to: "helper_bot")
            }
            for i in 0..<30 { #expect(try await alice.next() == "a\(i)") }
            for i in 0..<30 { #expect(try await carol.next() == "c\(i)") }
            try await hub.settle()
        }
    }

    @Test func twoBotsInTwoAppKeysRelayBothWaysWithoutALoop() async throws {
        let otherApp = "other-app-key"
        var ra = TestBot("ra", username: "relay_a", plugins: [.builtIn("relay", config: [
            "routes": [["from": ["type": "single", "id": "alice"],
                        "to": ["type": "single", "id": "carol", "appkey": .string(otherApp)], "via": "rb"]],
        ])], options: .init(acceptRelayFrom: ["rb"]))
        ra.spec.options.listen.ignoreRobots = false
        var rb = TestBot("rb", username: "relay_b", appKey: otherApp, plugins: [.builtIn("relay", config: [
            "routes": [["from": ["type": "single", "id": "carol"],
                        "to": ["type": "single", "id": "alice", "appkey": .string(TestHub.appKey)], "via": "ra"]],
        ])], options: .init(acceptRelayFrom: ["ra"]))
        rb.spec.options.listen.ignoreRobots = false
        try await TestHub.run(bots: [ra, rb], apps: [.init(appKey: otherApp, masterSecret: "other-secret")]) { hub in
            let alice = try await hub.user("alice")
            let carol = try await hub.user("carol", appKey: otherApp)
            try await alice.send("hi carol", to: "relay_a")
            let relayed = try await carol.nextMessage()
            #expect(relayed.body.text == "alice: hi carol")
            #expect(relayed.fromID == "relay_b")
            #expect(relayed.fromAppKey == otherApp)
            try await carol.send("hi alice", to: "relay_b")
            #expect(try await alice.next() == "carol: hi alice")
            // Nothing bounced in between: the next message each sees is the next one relayed.
            try await alice.send("bye", to: "relay_a")
            #expect(try await carol.next() == "alice: bye")
        }
    }

    @Test func relayedMessagesAreNotRelayedAgainEvenBetweenBotsThatListenToRobots() async throws {
        // r1 forwards alice's messages to r2, r2 forwards r1's to r1 and to alice, r1 forwards r2's to r2:
        // without the hop limit this would bounce between the two robots forever.
        func relay(_ routes: [(String, String)]) -> TestPlugin {
            .builtIn("relay", config: ["max_hops": 2, "name_prefix": false, "routes": .array(routes.map {
                ["from": ["id": .string($0.0)], "to": ["id": .string($0.1)]]
            })])
        }
        var r1 = TestBot("r1", username: "relay_one", plugins: [relay([("alice", "relay_two"), ("relay_two", "relay_two")])])
        var r2 = TestBot("r2", username: "relay_two", plugins: [relay([("relay_one", "relay_one"), ("relay_one", "alice")])])
        r1.spec.options.listen.ignoreRobots = false
        r2.spec.options.listen.ignoreRobots = false
        try await TestHub.run(bots: [r1, r2]) { hub in
            let alice = try await hub.user("alice")
            try await alice.send("ping 1", to: "relay_one")
            let first = try await alice.nextMessage()
            #expect(first.body.text == "ping 1")
            #expect(first.fromID == "relay_two")
            #expect(try await alice.ask("ping 2", to: "relay_one") == "ping 2")
            let history = try await hub.hub.inbox(userID: hub.hub.user(appKey: TestHub.appKey, username: "relay_one").id,
                                                  after: 0)
            // r1 got alice's two messages and r2's two hop-2 copies, and relayed none of those copies.
            #expect(history.count <= 4)
        }
    }
}
