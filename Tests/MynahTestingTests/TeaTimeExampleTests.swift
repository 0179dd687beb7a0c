import BotKit
import MynahTesting
import Testing

/// A small plugin: counts the cups of tea its team drinks, welcomes new members, and calls tea time at 16:00 UTC
/// in the last group that counted a cup.
struct TeaTime: Plugin {
    static let pluginName = "teatime"

    init(configuration: JSONValue) throws(ProtocolError) {}

    var commands: [CommandSpec] { [CommandSpec(name: "tea", help: "Count a cup of tea")] }

    var schedules: [Schedule] { [Schedule(name: "teatime", cron: try! CronSchedule("0 16 * * *"))] }

    func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        switch event {
        case .message(let message) where message.command?.name == "tea":
            let cups = (try await context.store.get("cups")?.intValue ?? 0) + 1
            var actions: [BotAction] = [.store(key: "cups", value: .int(cups)), .reply(.text("\(cups) cups so far"))]
            if message.conversation.type == .group {
                actions.append(.store(key: "team", value: .string(message.conversation.id)))
            }
            return actions
        case .membersJoined(let change):
            return [.reply(.text("welcome, \(change.usernames.joined(separator: ", "))! /tea counts a cup"))]
        case .tick:
            guard let team = try await context.store.get("team")?.stringValue else { return [] }
            return [.send(to: .group(team), body: .text("tea time!"))]
        default:
            return []
        }
    }
}

@Test func teaTimeCountsCupsWelcomesMembersAndCallsTeaTime() async throws {
    try await TestHub.run(bots: [TestBot("tea", plugins: [.swift(TeaTime.self)])]) { hub in
        // A single chat with the bot.
        let alice = try await hub.user("alice")
        #expect(try await alice.ask("/tea", to: "tea_bot") == "1 cups so far")

        // A group: the bot welcomes bob when he joins, and answers there.
        let team = try await hub.group(owner: "alice", members: ["tea_bot"])
        let bob = try await hub.user("bob_b")
        try await hub.add(["bob_b"], to: team)
        #expect(try await alice.next() == "welcome, bob_b! /tea counts a cup")
        #expect(try await bob.next() == "welcome, bob_b! /tea counts a cup")
        try await bob.send("/tea", in: team)
        #expect(try await alice.next() == "/tea")
        let reply = try await alice.nextMessage()
        #expect(reply.body.text == "2 cups so far")
        #expect(reply.fromID == "tea_bot" && reply.targetID == team.gid)

        // What the plugin stored.
        #expect(try await hub.store(bot: "tea", plugin: "teatime").get("cups") == 2)

        // The bots' clock reads 09:00 UTC until the test moves it: seven hours later it is tea time.
        try await hub.advance(by: .seconds(7 * 3600))
        #expect(try await bob.next() == "2 cups so far")
        #expect(try await bob.next() == "tea time!")
    }
}
