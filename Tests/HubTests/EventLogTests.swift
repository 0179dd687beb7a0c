import Foundation
import HubPostgres
import Logging
import PostgresNIO
import Synchronization
import Hub
import IMProtocol
import Testing

/// The combined log of messages and gateway events that message routing follows, on both backends.
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

    @Test(arguments: Backend.allCases)
    func eventsAreLoggedInCommitOrderWithTheMessagesAndEveryLimitReadsTheSameLog(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let store = try #require(hub.store as? any MessageLogStore)
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

    @Test(arguments: Backend.allCases)
    func aReaderFollowingTheLogWhileWritersCommitConcurrentlyMissesNothing(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let store = try #require(hub.store as? any MessageLogStore)
            let owner = try await hub.make("owner1")
            _ = try await hub.make("other1")
            for i in 0..<10 { _ = try await hub.make("member\(i)") }
            var groups: [Int64] = []
            for g in 0..<3 {
                groups.append(try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                    owner: "owner1", name: "g\(g)", members: ["other1"])).gid)
            }
            let start = try await store.logHead()
            let finished = Mutex(false)
            // A reader follows the log from `start` while the sends and the membership changes (of three groups at
            // once, each on its own connection on PostgreSQL) commit.
            let reader = Task { () throws -> [LogItem] in
                var position = start
                var read: [LogItem] = []
                while true {
                    let last = finished.withLock { $0 }
                    let scan = try await store.log(after: position, limit: 8)
                    for item in scan.items { position = item.position(after: position) }
                    read += scan.items
                    if scan.items.isEmpty {
                        if last { return read }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { writers in
                for w in 0..<4 {
                    writers.addTask {
                        for k in 0..<20 { _ = try await hub.sendText("\(w)-\(k)", from: owner, to: "other1") }
                    }
                }
                for gid in groups {
                    writers.addTask {
                        for i in 0..<10 {
                            try await hub.changeMembers(appKey: TestApps.a.appKey, gid: gid, add: ["member\(i)"],
                                                        remove: [])
                        }
                    }
                }
                try await writers.waitForAll()
            }
            finished.withLock { $0 = true }
            let followed = try await reader.value
            let whole = try await store.log(after: start, limit: 1_000)
            #expect(whole.complete && whole.items.count == 110)
            #expect(Self.names(followed) == Self.names(whole.items))
        }
    }

    /// What keeps PostgreSQL's log in commit order: an event's transaction takes the clock row that every append
    /// holds to its commit, so it waits for an append in flight (and draws its id and `after_msg_id` after it).
    @Test func onPostgresAnEventWaitsForTheAppendInFlight() async throws {
        try await withHub(.postgres) { hub, sandbox in
            let database = try #require(sandbox.postgres)
            let owner = try await hub.make("owner1")
            _ = try await hub.make("other1")
            _ = try await hub.make("third1")
            let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                owner: "owner1", name: "g", members: ["other1"]))
            let first = try await hub.sendText("before", from: owner, to: "other1")
            let store = try #require(hub.store as? any MessageLogStore)
            let start = try await store.logHead()
            try await database.client.withConnection { c in
                // An append in flight: it holds the clock row.
                _ = try await c.query("BEGIN", logger: Logger(label: "test")).collect()
                _ = try await c.query("SELECT ctime FROM message_clock WHERE id = 1 FOR UPDATE",
                                      logger: Logger(label: "test")).collect()
                let change = Task {
                    try await hub.changeMembers(appKey: TestApps.a.appKey, gid: group.gid, add: ["third1"], remove: [])
                }
                // The event's transaction waits for the row (seen in pg_stat_activity), not for any pause.
                let deadline = ContinuousClock.now + .seconds(60)
                var waiting = false
                while !waiting && ContinuousClock.now < deadline {
                    // Inside a transaction the activity view is a snapshot taken once: clear it before each look.
                    _ = try await c.query("SELECT pg_stat_clear_snapshot()", logger: Logger(label: "test")).collect()
                    waiting = try await c.query("""
                        SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                        """, logger: Logger(label: "test")).collect().first?.decode(Int64.self) ?? 0 > 0
                    if !waiting { try await Task.sleep(for: .milliseconds(10)) }
                }
                _ = try await c.query("SELECT pg_stat_clear_snapshot()", logger: Logger(label: "test")).collect()
                let activity = try await c.query("""
                    SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-') || ': ' || coalesce(query, '')
                    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """, logger: Logger(label: "test")).collect().map { try $0.decode(String.self) }
                #expect(waiting, "the event's transaction did not wait for the clock row: \(activity)")
                #expect(try await store.log(after: start, limit: 10).items.isEmpty)
                _ = try await c.query("COMMIT", logger: Logger(label: "test")).collect()
                try await change.value
            }
            let scan = try await store.log(after: start, limit: 10)
            guard case .event(let added)? = scan.items.first, scan.items.count == 1 else {
                Issue.record("expected one event, got \(scan.items)")
                return
            }
            #expect(added.afterMsgID == first.msgID && added.event.kind == .groupMembersAdded)
        }
    }
}
