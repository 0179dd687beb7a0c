import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
@testable import Mynah

/// Group and chatroom fan-out and the gateway's events, over real WebSockets to a real daemon.
@Suite struct GroupDeliveryTests {
    /// The next `count` messages of a client, failing when its stream ends first.
    static func next(_ iterator: inout AsyncStream<ServerFrame.Delivery>.Iterator, _ count: Int = 1) async throws
        -> [ServerFrame.Delivery] {
        var result: [ServerFrame.Delivery] = []
        for _ in 0..<count { result.append(try #require(await iterator.next())) }
        return result
    }

    static func nextEvent(_ iterator: inout AsyncStream<ServerFrame.EventDelivery>.Iterator) async throws -> ChatEvent {
        try #require(await iterator.next()).event
    }

    @Test func aGroupMessageReachesEveryMemberOnEveryDeviceAndTheSendersOtherDevice() async throws {
        try await Demo.withDaemon { daemon, port in
            for name in ["alice", "bob_b", "carol", "dave_d"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let rest = REST(port: port)
            // Alice uses two devices: the copy of what she sends reaches both.
            let alicePhone = try await Demo.client(port: port, username: "alice", password: "pass-alice", device: "phone")
            let aliceDesk = try await Demo.client(port: port, username: "alice", password: "pass-alice", device: "desk")
            let bobPhone = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b", device: "phone")
            let bobDesk = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b", device: "desk")
            let carol = try await Demo.client(port: port, username: "carol", password: "pass-carol")
            let dave = try await Demo.client(port: port, username: "dave_d", password: "pass-dave_d")

            let created = try await rest.call("POST", "/v1/groups/", body: """
                {"owner_username":"alice","name":"ops","members_username":["bob_b","carol"],"desc":"on call"}
                """)
            #expect(created.status == 201)
            let gid = try #require(created.json?["gid"]?.intValue)
            #expect(created.json?["MaxMemberCount"]?.intValue == 500)

            var carolEvents = carol.events.makeAsyncIterator()
            let first = try await Self.nextEvent(&carolEvents)
            #expect(first.kind == .groupCreated && first.gid == gid)
            #expect(first.usernames == ["alice", "bob_b", "carol"])

            let sent = try await alicePhone.send(.init(targetType: .group, targetID: String(gid), body: .text("standup")))
            for client in [bobPhone, bobDesk, carol, aliceDesk, alicePhone] {
                var inbox = client.messages.makeAsyncIterator()
                let got = try await Self.next(&inbox)[0]
                #expect(got.stored.msgID == sent.msgID)
                #expect(got.stored.message.targetType == .group && got.stored.message.targetID == String(gid))
                #expect(got.stored.message.fromID == "alice" && got.stored.message.targetName == "ops")
            }

            // Dave is not a member: refused, and nothing reaches him.
            let refused = await #expect(throws: IMClient.Failure.self) {
                _ = try await dave.send(.init(targetType: .group, targetID: String(gid), body: .text("let me in")))
            }
            guard case .rejected(let failure)? = refused else { Issue.record("expected a rejection"); return }
            #expect(failure.code == .senderNotInGroup)

            // Membership changes are events to the members, old and new.
            #expect(try await rest.call("POST", "/v1/groups/\(gid)/members", body: #"{"add":["dave_d"],"remove":["carol"]}"#).status == 204)
            let again = try await rest.call("POST", "/v1/groups/\(gid)/members", body: #"{"remove":["carol"]}"#)
            #expect(again.json?["error"]?["code"]?.intValue == 899014)
            #expect(again.json?["error"]?["message"]?.stringValue == "'carol' is not a member of group \(gid)")
            let removed = try await Self.nextEvent(&carolEvents)
            #expect(removed.kind == .groupMembersRemoved && removed.usernames == ["carol"])
            // Dave, a member once the change is applied, hears of both halves of it: removals first.
            var daveEvents = dave.events.makeAsyncIterator()
            #expect(try await Self.nextEvent(&daveEvents).kind == .groupMembersRemoved)
            let added = try await Self.nextEvent(&daveEvents)
            #expect(added.kind == .groupMembersAdded && added.usernames == ["dave_d"] && added.gid == gid)

            // Now the group reaches Dave and no longer Carol.
            let second = try await bobPhone.send(.init(targetType: .group, targetID: String(gid), body: .text("welcome dave")))
            var daveInbox = dave.messages.makeAsyncIterator()
            #expect(try await Self.next(&daveInbox)[0].stored.msgID == second.msgID)
            let carolAccount = try await daemon.hub.user(appKey: Demo.appKey, username: "carol")
            let carolEntries = try await daemon.hub.inbox(userID: carolAccount.id, after: 0)
            #expect(!carolEntries.contains { $0.stored?.msgID == second.msgID })

            // Silenced members may not send.
            #expect(try await rest.call("PUT", "/v1/groups/messages/\(gid)/silence?status=true", body: #"["dave_d"]"#).status == 204)
            let silenced = await #expect(throws: IMClient.Failure.self) {
                _ = try await dave.send(.init(targetType: .group, targetID: String(gid), body: .text("hello?")))
            }
            guard case .rejected(let quiet)? = silenced else { Issue.record("expected a rejection"); return }
            #expect(quiet.code == .senderSilenced)
            for client in [alicePhone, aliceDesk, bobPhone, bobDesk, carol, dave] { client.close() }
        }
    }

    @Test func aTwoThousandMemberGroupDeliversToEveryInbox() async throws {
        try await Demo.withDaemon(configure: { $0.apps[0].maxGroupMembers = 2_000 }) { daemon, port in
            let hub = daemon.hub
            var names: [String] = []
            for i in 0..<2_000 {
                let name = String(format: "member%04d", i)
                names.append(name)
                _ = try await hub.register(appKey: Demo.appKey, NewUser(username: name, password: "pass-\(i)"), kind: .user)
            }
            let group = try await hub.createGroup(appKey: Demo.appKey, NewGroup(owner: names[0], name: "all hands",
                                                                                members: Array(names.dropFirst())))
            // Two members are online; everyone else finds it in the inbox.
            let online = try await Demo.client(port: port, username: names[1999], password: "pass-1999")
            var inbox = online.messages.makeAsyncIterator()
            let sender = try await hub.user(appKey: Demo.appKey, username: names[0])
            let sent = try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("hello all")),
                                          from: sender, platform: "web")
            #expect(try await Self.next(&inbox)[0].stored.msgID == sent.msgID)
            for name in [names[1], names[1000], names[1998]] {
                let account = try await hub.user(appKey: Demo.appKey, username: name)
                let messages = try await hub.inbox(userID: account.id, after: 0).compactMap(\.stored)
                #expect(messages.map(\.msgID) == [sent.msgID])
            }
            let history = try await REST(port: port).call(
                "GET", "/v2/groups/\(group.gid)/messages?count=10&begin_time=2000-01-01+00:00:00&end_time=2000-01-07+00:00:00")
            #expect(history.status == 200)
            online.close()
        }
    }

    @Test func retractionIsAnEventAndAnUndeliveredMessageIsNotDeliveredAfterIt() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "pass-alice")
            try await Demo.register(daemon, "bob_b", password: "pass-bob_b")
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            let sent = try await alice.send(.init(targetID: "bob_b", body: .text("oops")))
            let kept = try await alice.send(.init(targetID: "bob_b", body: .text("fine")))
            let rest = REST(port: port)
            #expect(try await rest.call("POST", "/v1/messages/alice/\(sent.msgID)/retract").status == 204)
            let again = try await rest.call("POST", "/v1/messages/alice/\(sent.msgID)/retract")
            #expect(again.status == 400 && again.json?["error"]?["code"]?.intValue == 855004)

            // Bob logs in after the retraction: he gets the second message and the event, never the retracted one.
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            var inbox = bob.messages.makeAsyncIterator()
            var events = bob.events.makeAsyncIterator()
            let got = try await Self.next(&inbox)[0]
            #expect(got.stored.msgID == kept.msgID && got.seq == 2)
            let event = try await Self.nextEvent(&events)
            #expect(event.kind == .messageRetracted && event.msgID == sent.msgID && event.by == "alice")
            alice.close()
            bob.close()
        }
    }

    @Test func friendModeRefusesStrangersAndFriendsHearOfEachOther() async throws {
        try await Demo.withDaemon(configure: { $0.apps[0].friendMode = true }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "pass-alice")
            try await Demo.register(daemon, "bob_b", password: "pass-bob_b")
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            let refused = await #expect(throws: IMClient.Failure.self) {
                _ = try await alice.send(.init(targetID: "bob_b", body: .text("hi stranger")))
            }
            guard case .rejected(let failure)? = refused else { Issue.record("expected a rejection"); return }
            #expect(failure.code == .notAFriend)
            // The echo robot is exempt from friend mode.
            _ = try await alice.send(.init(targetID: "echo_bot", body: .text("ping")))

            #expect(try await REST(port: port).call("POST", "/v1/users/alice/friends", body: #"["bob_b"]"#).status == 201)
            var bobEvents = bob.events.makeAsyncIterator()
            let event = try await Self.nextEvent(&bobEvents)
            #expect(event.kind == .friendAdded && event.usernames == ["alice"])
            let sent = try await alice.send(.init(targetID: "bob_b", body: .text("hi friend")))
            var inbox = bob.messages.makeAsyncIterator()
            #expect(try await Self.next(&inbox)[0].stored.msgID == sent.msgID)
            alice.close()
            bob.close()
        }
    }

    @Test func aChatroomReachesOnlyConnectedMembers() async throws {
        try await Demo.withDaemon { daemon, port in
            for name in ["alice", "bob_b", "carol"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let rest = REST(port: port)
            let created = try await rest.call("POST", "/v1/chatroom/", body: """
                {"owner_username":"alice","name":"lobby","members_username":["bob_b","carol"]}
                """)
            #expect(created.status == 201)
            let room = try #require(created.json?["chatroom_id"]?.intValue)
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            let sent = try await alice.send(.init(targetType: .chatroom, targetID: String(room), body: .text("live only")))
            var inbox = bob.messages.makeAsyncIterator()
            #expect(try await Self.next(&inbox)[0].stored.msgID == sent.msgID)
            // Carol was offline: nothing waits for her.
            let carolAccount = try await daemon.hub.user(appKey: Demo.appKey, username: "carol")
            #expect(try await daemon.hub.inbox(userID: carolAccount.id, after: 0).isEmpty)
            alice.close()
            bob.close()
        }
    }
}
