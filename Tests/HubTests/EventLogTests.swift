import Foundation
import Hub
import IMProtocol
import Testing

/// The combined log of messages and gateway events that message routing follows (SQLite only).
@Suite struct EventLogTests {
    /// `m<msgid>` or `e:<kind>` for each item.
    static func names(_ items: [LogItem]) -> [String] {
        items.map {
            switch $0 {
            case .message(let m): "m\(m.msgID)"
            case .event(let e): "e:\(e.event.kind)"
            }
        }
    }

    @Test func eventsAreLoggedInCommitOrderWithTheMessagesAndEveryLimitReadsTheSameLog() async throws {
        try await withHub { hub, _ in
            let store = try #require(hub.store as? SQLiteHubStore)
            let owner = try await hub.make("owner1")
            let other = try await hub.make("other1")
            _ = try await hub.make("third1")
            let start = try await store.logHead()
            let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                owner: "owner1", name: "g", members: ["other1"]))
            let m1 = try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("1")),
                                        from: owner, platform: "web")
            let m2 = try await hub.sendText("2", from: other, to: "owner1")
            try await hub.changeMembers(appKey: TestApps.a.appKey, gid: group.gid, add: ["third1"], remove: [])
            try await hub.retract(appKey: TestApps.a.appKey, username: "other1", msgID: m2.msgID)
            try await hub.addFriends(owner, usernames: ["other1"])
            let m3 = try await hub.sendText("3", from: owner, to: "other1")
            let expected = ["e:group_created", "m\(m1.msgID)", "m\(m2.msgID)", "e:group_members_added",
                            "e:message_retracted", "e:friend_added", "e:friend_added", "m\(m3.msgID)"]

            let all = try await store.log(after: start, limit: 100)
            #expect(all.complete)
            #expect(Self.names(all.items) == expected)
            guard case .event(let added) = all.items[3], case .event(let retracted) = all.items[4],
                  case .event(let friend) = all.items[5] else { Issue.record("not events"); return }
            #expect(added.targetType == .group && added.targetID == String(group.gid) && added.afterMsgID == m2.msgID)
            #expect(added.event.usernames == ["third1"] && added.appKeys == [TestApps.a.appKey])
            #expect(retracted.targetType == .single && retracted.targetID == "owner1" && retracted.event.msgID == m2.msgID)
            #expect(friend.targetType == .single && friend.targetID == "owner1" && friend.event.usernames == ["other1"])
            #expect(try await store.logHead() == all.items.reduce(start) { $1.position(after: $0) })

            // Read in small steps, each cut where a read stopped: the same log, nothing missed or repeated.
            for limit in 1...4 {
                var position = start
                var read: [LogItem] = []
                while true {
                    let scan = try await store.log(after: position, limit: limit)
                    for item in scan.items { position = item.position(after: position) }
                    read += scan.items
                    if scan.complete && scan.items.isEmpty { break }
                    #expect(!scan.items.isEmpty || !scan.complete, "a read at limit \(limit) made no progress")
                    if scan.items.isEmpty { break }
                }
                #expect(Self.names(read) == expected, "limit \(limit)")
            }
        }
    }
}
