@testable import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Mynah

/// Bots in group chats end to end through a real daemon: replies into the group, mention-only listening,
/// members joining and leaving reaching plugins (the Python greeter), relays between groups and straight across
/// AppKeys where the hub's `cross_app` allows it.
@Suite struct BotGroupTests {
    /// Creates a group over REST as `owner` with `members`; returns its gid.
    static func group(_ port: Int, owner: String, _ members: [String], name: String = "team") async throws -> String {
        let names = members.map { "\"\($0)\"" }.joined(separator: ",")
        let created = try await REST(port: port).call("POST", "/v1/groups/", body: """
            {"owner_username":"\(owner)","name":"\(name)","members_username":[\(names)]}
            """)
        #expect(created.status == 201)
        return String(try #require(created.json?["gid"]?.intValue))
    }

    /// Adds or removes members of a group over REST.
    static func members(_ port: Int, _ gid: String, add: [String] = [], remove: [String] = []) async throws {
        let list = { (names: [String]) in names.map { "\"\($0)\"" }.joined(separator: ",") }
        let changed = try await REST(port: port).call("POST", "/v1/groups/\(gid)/members", body: """
            {"add":[\(list(add))],"remove":[\(list(remove))]}
            """)
        #expect(changed.status == 204)
    }

    @Test func theEchoBotAnswersInTheGroupWhereItWasAsked() async throws {
        try await TestHub.run(bots: [TestBot("helper", plugins: [.builtIn("echo")])]) { hub in
            let alice = try await hub.user("alice")
            let bob = try await hub.user("bob_b")
            let team = try await hub.group(owner: "alice", members: ["bob_b", "helper_bot"])
            try await alice.send("ping", in: team)
            #expect(try await bob.next() == "ping")                  // alice's message
            let answer = try await bob.nextMessage()                // the bot's echo, in the group
            #expect(answer.body.text == "ping")
            #expect(answer.fromID == "helper_bot" && answer.fromType == .robot)
            #expect(answer.targetType == .group && answer.targetID == team.gid)
            let toAlice = try await alice.nextMessage()
            #expect(toAlice.fromID == "helper_bot" && toAlice.targetID == team.gid)
        }
    }

    @Test func twoBotsInOneGroupBothAnswerAndOneThatListensToRobotsHearsTheOther() async throws {
        // "parrot" listens to robots and so also answers "echo"'s reply; "echo" ignores robots: no loop.
        let echo = TestBot("echo", plugins: [.builtIn("echo", config: ["prefix": "A: "])])
        var parrot = TestBot("parrot", plugins: [.builtIn("echo", config: ["prefix": "B: "])])
        parrot.spec.options.listen.ignoreRobots = false
        try await TestHub.run(bots: [echo, parrot]) { hub in
            let alice = try await hub.user("alice")
            let bob = try await hub.user("bob_b")
            let team = try await hub.group(owner: "alice", members: ["echo_bot", "parrot_bot"])
            try await hub.add(["bob_b"], to: team)
            try await alice.send("hi", in: team)
            #expect(try await bob.next() == "hi")
            #expect(try await bob.next(3) == ["A: hi", "B: hi", "B: A: hi"])
            try await hub.settle()
            // Nothing else was said: the next message bob sees is the next answer.
            try await alice.send("bye", in: team)
            #expect(try await bob.next() == "bye")
            #expect(try await bob.next(3) == ["A: bye", "B: bye", "B: A: bye"])
        }
    }

    @Test func aMentionOnlyBotHearsOnlyMessagesThatMentionItInGroupsButEverythingInSingleChat() async throws {
        var bot = TestBot("helper", plugins: [.builtIn("echo")])
        bot.spec.options.listen.mentionOnly = true
        try await TestHub.run(bots: [bot]) { hub in
            let alice = try await hub.user("alice")
            let team = try await hub.group(owner: "alice", members: ["helper_bot"])
            try await alice.send("not for the bot", in: team)
            try await alice.send("@helper_bot are you there", in: team)
            // The first message the bot answers is the one that mentions it.
            let answer = try await alice.nextMessage()
            #expect(answer.body.text == "@helper_bot are you there")
            #expect(answer.targetType == .group)
            // A mention in the message's extras counts as well.
            try await alice.send(.text(.init(text: "quiet mention", extras: ["mentions": ["helper_bot"]])), to: team.conversation)
            #expect(try await alice.next() == "quiet mention")
            // Single chat needs no mention.
            #expect(try await alice.ask("direct", to: "helper_bot") == "direct")
        }
    }

    @Test func thePythonGreeterWelcomesMembersWhoJoinButNotItselfOrTheFirstMembers() async throws {
        let greeter = TestPlugin.exec(["python3", Demo.repository.appendingPathComponent("Plugins/examples/greeter.py").path])
        try await TestHub.run(bots: [TestBot("helper", plugins: [greeter])]) { hub in
            let alice = try await hub.user("alice")
            for name in ["bob_b", "carol"] { try await hub.register(name) }
            let team = try await hub.group(owner: "alice", members: [])
            // The bot joining is not greeted by the bot; two people joining at once are welcomed together.
            try await hub.add(["helper_bot"], to: team)
            try await hub.add(["bob_b", "carol"], to: team)
            let welcome = try await alice.nextMessage()
            #expect(welcome.body.text == "welcome, bob_b, carol")
            #expect(welcome.fromID == "helper_bot" && welcome.targetType == .group && welcome.targetID == team.gid)
            // Leaving reaches plugins too; the greeter has nothing to say about it, and the next welcome is next.
            try await hub.remove(["carol"], from: team)
            try await hub.register("dave_d")
            try await hub.add(["dave_d"], to: team)
            #expect(try await alice.next() == "welcome, dave_d")
        }
    }

    @Test func membersJoiningAndLeavingReachSwiftPluginsWithTheGroup() async throws {
        let dir = try TemporaryDirectory()
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4), configure: {
            $0.bots = [Demo.bot(plugins: [Demo.plugin("echo")])]
        })
        try await daemon.withRunning { port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            try await Demo.register(daemon, "bob_b", password: "bob_b-pass")
            let gid = try await Self.group(port, owner: "alice", ["helper_bot"])
            // The bot's own view: its inbox holds the membership events, and the bot turns them into events
            // that name the group and the members (the bot itself left out).
            try await Self.members(port, gid, add: ["bob_b"])
            try await Self.members(port, gid, remove: ["bob_b"])
            let bot = try await daemon.hub.user(appKey: Demo.appKey, username: "helper_bot")
            let entries = try await daemon.hub.inbox(userID: bot.id, after: 0)
            let events = entries.compactMap(\.event)
            #expect(events.map(\.kind) == [.groupCreated, .groupMembersAdded, .groupMembersRemoved])
            let joined = ConnectionEvent(ServerFrame.EventDelivery(seq: 2, event: events[1]))
            #expect(joined == .membersJoined(MembershipChange(conversation: .group(gid, appKey: Demo.appKey),
                                                              usernames: ["bob_b"]), seq: 2))
            let left = ConnectionEvent(ServerFrame.EventDelivery(seq: 3, event: events[2]))
            #expect(left == .membersLeft(MembershipChange(conversation: .group(gid, appKey: Demo.appKey),
                                                          usernames: ["bob_b"]), seq: 3))
            #expect(ConnectionEvent(ServerFrame.EventDelivery(seq: 1, event: events[0])) == .other(seq: 1))
            // The bot acknowledged the events with its messages: nothing stays pending for it.
            _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: .text("after")))
            #expect(try await alice.next() == "after")
        }
        withExtendedLifetime(dir) {}
    }

    @Test func theRelayForwardsBetweenTwoGroupsWithoutEchoingBack() async throws {
        // The gids are known only once the groups exist, so the relay is configured after creating them.
        try await TestHub.run(bots: [TestBot("echo", plugins: [.builtIn("commands")])]) { hub in
            let alice = try await hub.user("alice")
            let bob = try await hub.user("bob_b")
            let front = try await hub.group("front", owner: "alice", members: ["echo_bot"])
            let back = try await hub.group("back", owner: "bob_b", members: ["echo_bot"])
            try await hub.reconfigure(bots: [TestBot("echo", plugins: [.builtIn("relay", config: ["routes": [
                ["from": ["type": "group", "id": .string(front.gid)], "to": ["type": "group", "id": .string(back.gid)]],
                ["from": ["type": "group", "id": .string(back.gid)], "to": ["type": "group", "id": .string(front.gid)]],
            ]])])])
            try await alice.send("from the front", in: front)
            let relayed = try await bob.nextMessage()
            #expect(relayed.body.text == "alice: from the front")
            #expect(relayed.fromID == "echo_bot" && relayed.targetID == back.gid)
            try await bob.send("from the back", in: back)
            #expect(try await alice.next() == "bob_b: from the back")
            // The relayed copies were not relayed back: each side's next message is the next one sent.
            try await alice.send("again", in: front)
            #expect(try await bob.next() == "alice: again")
        }
    }

    @Test func theRelaySendsStraightIntoAnotherAppKeyWhenThatAppAllowsIt() async throws {
        let otherApp = "other-app-key"
        let relay = TestPlugin.builtIn("relay", config: ["routes": [
            ["from": ["type": "single", "id": "alice"],
             "to": ["type": "single", "id": "carol", "appkey": .string(otherApp)]],
        ]])
        var other = MynahConfiguration.App(appKey: otherApp, masterSecret: "other-secret")
        other.crossApp = [TestHub.appKey]
        try await TestHub.run(bots: [TestBot("helper", plugins: [relay])], apps: [other]) { hub in
            let alice = try await hub.user("alice")
            let carol = try await hub.user("carol", appKey: otherApp)
            try await alice.send("hi carol", to: "helper_bot")
            let relayed = try await carol.nextMessage()
            #expect(relayed.body.text == "alice: hi carol")
            #expect(relayed.fromID == "helper_bot" && relayed.fromAppKey == TestHub.appKey)
            #expect(relayed.targetAppKey == otherApp)
        }
    }
}

extension BotGroupTests {
    @Test func aConversationSpelledTwoWaysIsOneLaneOfTheBotsSends() throws {
        let dir = try TemporaryDirectory()
        let bot = BotKit.Bot(settings: .init(identity: BotIdentity(name: "b", appKey: Demo.appKey, username: "b_bot")),
                             plugins: [], storage: try SQLitePluginStorage(path: dir.path + "/bots.sqlite"))
        #expect(bot.laneKey(.single("alice")) == bot.laneKey(.single("alice", appKey: Demo.appKey)))
        #expect(bot.laneKey(.group("042")) == bot.laneKey(.group("42", appKey: Demo.appKey)))
        #expect(bot.laneKey(.single("alice", appKey: "other")) != bot.laneKey(.single("alice")))
    }
}
