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
        try await Demo.withDaemon(configure: { $0.bots = [Demo.bot(plugins: [Demo.plugin("echo")])] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let bob = Inbox(try await Demo.user(daemon, port: port, "bob_b"))
            let gid = try await Self.group(port, owner: "alice", ["bob_b", "helper_bot"])
            _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: .text("ping")))
            #expect(try await bob.next() == "ping")                  // alice's message
            let answer = try await bob.nextMessage()                // the bot's echo, in the group
            #expect(answer.body.text == "ping")
            #expect(answer.fromID == "helper_bot" && answer.fromType == .robot)
            #expect(answer.targetType == .group && answer.targetID == gid)
            let toAlice = try await alice.nextMessage()
            #expect(toAlice.fromID == "helper_bot" && toAlice.targetID == gid)
        }
    }

    @Test func aMentionOnlyBotHearsOnlyMessagesThatMentionItInGroupsButEverythingInSingleChat() async throws {
        var options = MynahConfiguration.BotOptions()
        options.listen.mentionOnly = true
        try await Demo.withDaemon(configure: {
            $0.bots = [Demo.bot(plugins: [Demo.plugin("echo")], options: options)]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let gid = try await Self.group(port, owner: "alice", ["helper_bot"])
            _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: .text("not for the bot")))
            _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: .text("@helper_bot are you there")))
            // The first message the bot answers is the one that mentions it.
            let answer = try await alice.nextMessage()
            #expect(answer.body.text == "@helper_bot are you there")
            #expect(answer.targetType == .group)
            // A mention in the message's extras counts as well.
            let extras = MessageBody.text(.init(text: "quiet mention", extras: ["mentions": ["helper_bot"]]))
            _ = try await alice.client.send(.init(targetType: .group, targetID: gid, body: extras))
            #expect(try await alice.next() == "quiet mention")
            // Single chat needs no mention.
            #expect(try await alice.ask("helper_bot", "direct") == "direct")
        }
    }

    @Test func thePythonGreeterWelcomesMembersWhoJoinButNotItselfOrTheFirstMembers() async throws {
        let greeter = Demo.python(Demo.repository.appendingPathComponent("Plugins/examples/greeter.py").path)
        try await Demo.withDaemon(configure: { $0.bots = [Demo.bot(plugins: [greeter])] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            for name in ["bob_b", "carol"] { try await Demo.register(daemon, name, password: "\(name)-pass") }
            let gid = try await Self.group(port, owner: "alice", [])
            // The bot joining is not greeted by the bot; two people joining at once are welcomed together.
            try await Self.members(port, gid, add: ["helper_bot"])
            try await Self.members(port, gid, add: ["bob_b", "carol"])
            let welcome = try await alice.nextMessage()
            #expect(welcome.body.text == "welcome, bob_b, carol")
            #expect(welcome.fromID == "helper_bot" && welcome.targetType == .group && welcome.targetID == gid)
            // Leaving reaches plugins too; the greeter has nothing to say about it, and the next welcome is next.
            try await Self.members(port, gid, remove: ["carol"])
            try await Demo.register(daemon, "dave_d", password: "dave_d-pass")
            try await Self.members(port, gid, add: ["dave_d"])
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
        // The gids are known only once the groups exist, so the relay is configured after creating them (the
        // first run registers the bot with a harmless plugin).
        let dir = try TemporaryDirectory()
        let first = try await Demo.daemon(dir, options: .init(passwordCost: 4), configure: {
            $0.bots = [Demo.bot("echo", username: "echo_bot", plugins: [Demo.plugin("commands")])]
        })
        let (front, back) = try await first.withRunning { port in
            for name in ["alice", "bob_b"] { try await Demo.register(first, name, password: "\(name)-pass") }
            return (try await Self.group(port, owner: "alice", ["echo_bot"], name: "front"),
                    try await Self.group(port, owner: "bob_b", ["echo_bot"], name: "back"))
        }
        let relay = Demo.plugin("relay", config: ["routes": [
            ["from": ["type": "group", "id": .string(front)], "to": ["type": "group", "id": .string(back)]],
            ["from": ["type": "group", "id": .string(back)], "to": ["type": "group", "id": .string(front)]],
        ]])
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4), configure: {
            $0.bots = [Demo.bot("echo", username: "echo_bot", plugins: [relay])]
        })
        try await daemon.withRunning { port in
            let alice = Inbox(try await Demo.client(port: port, username: "alice", password: "alice-pass"))
            let bob = Inbox(try await Demo.client(port: port, username: "bob_b", password: "bob_b-pass"))
            _ = try await alice.client.send(.init(targetType: .group, targetID: front, body: .text("from the front")))
            let relayed = try await bob.nextMessage()
            #expect(relayed.body.text == "alice: from the front")
            #expect(relayed.fromID == "echo_bot" && relayed.targetID == back)
            _ = try await bob.client.send(.init(targetType: .group, targetID: back, body: .text("from the back")))
            #expect(try await alice.next() == "bob_b: from the back")
            // The relayed copies were not relayed back: each side's next message is the next one sent.
            _ = try await alice.client.send(.init(targetType: .group, targetID: front, body: .text("again")))
            #expect(try await bob.next() == "alice: again")
        }
        withExtendedLifetime(dir) {}
    }

    @Test func theRelaySendsStraightIntoAnotherAppKeyWhenThatAppAllowsIt() async throws {
        let otherApp = "other-app-key"
        let relay = Demo.plugin("relay", config: ["routes": [
            ["from": ["type": "single", "id": "alice"],
             "to": ["type": "single", "id": "carol", "appkey": .string(otherApp)]],
        ]])
        try await Demo.withDaemon(configure: {
            var other = MynahConfiguration.App(appKey: otherApp, masterSecret: "other-secret")
            other.crossApp = [Demo.appKey]
            $0.apps.append(other)
            $0.bots = [Demo.bot(plugins: [relay])]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            let carol = Inbox(try await Demo.user(daemon, port: port, "carol", appKey: otherApp))
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("hi carol")))
            let relayed = try await carol.nextMessage()
            #expect(relayed.body.text == "alice: hi carol")
            #expect(relayed.fromID == "helper_bot" && relayed.fromAppKey == Demo.appKey)
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
