import Foundation
import GRDB
import IMProtocol
import Testing
@testable import Hub

/// The SQLite store's inbox entries queued behind the writer (`InboxQueue`): with the backlog stopped, whatever reads
/// or changes an inbox sees the queued entries as if they were in `inbox` (reads without moving them, changes after
/// moving them), a store that stopped with entries queued delivers them and continues their sequence, and the writer
/// never gives a sequence number twice.
@Suite struct InboxQueueTests {
    /// Runs `body` with a hub on a fresh SQLite store whose backlog is stopped (queued entries stay queued), its
    /// store, its sandbox, and the accounts alice and bobby.
    static func withStoppedBacklog(
        _ body: (Hub, SQLiteHubStore, Sandbox, _ alice: User, _ bob: User) async throws -> Void
    ) async throws {
        try await withHub { hub, sandbox in
            let store = try #require(hub.store as? SQLiteHubStore)
            store.backlog.pause()
            try await body(hub, store, sandbox, try await hub.make("alice"), try await hub.make("bobby"))
        }
    }

    /// How many messages have entries waiting in the queue.
    static func queued(_ store: SQLiteHubStore) throws -> Int {
        try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox_queue") ?? 0 }
    }

    /// The whole inbox of `user`, read through the hub.
    static func inbox(_ hub: Hub, _ user: User) async throws -> [InboxEntry] {
        try await hub.inbox(userID: user.id, after: 0, limit: 10_000)
    }

    /// A group of alice's with `usernames` and enough more members that a message to it is queued
    /// (`InboxQueue.directLimit`); a message to it queues the messages after it too, until the queue is moved.
    static func crowd(_ hub: Hub, with usernames: [String]) async throws -> Group {
        var members = usernames
        for i in 0..<InboxQueue.directLimit {
            members.append(try await hub.make("crowd\(i)").username)
        }
        return try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(owner: "alice", name: "crowd", members: members))
    }

    /// Sends `text` to group `gid` from `sender`.
    static func sendToGroup(_ hub: Hub, _ text: String, gid: Int64, from sender: User) async throws -> StoredMessage {
        try await hub.send(.init(targetType: .group, targetID: String(gid), body: .text(text)), from: sender, platform: "web")
    }

    /// What each entry is: the message's text, or the event's kind.
    static func labels(_ entries: [InboxEntry]) -> [String] {
        entries.map { entry in
            if let event = entry.event { return "event:\(event.kind.rawValue)" }
            if case .text(let text) = entry.message.message.body { return text.text }
            return "?"
        }
    }

    @Test func queuedEntriesAreReadInOrderWithTheEventsWrittenBetweenThem() async throws {
        try await Self.withStoppedBacklog { hub, store, _, alice, bob in
            _ = try await hub.make("carol")
            _ = try await hub.make("dave")
            let group = try await Self.crowd(hub, with: ["bobby", "carol"])
            let before = Self.labels(try await Self.inbox(hub, bob))
            // The group's messages are queued, and the single messages after them too.
            for i in 0..<3 {
                _ = try await Self.sendToGroup(hub, "g\(i)", gid: group.gid, from: alice)
                _ = try await hub.sendText("s\(i)", from: alice, to: "bobby")
            }
            #expect(try Self.queued(store) == 6)
            // An event to the members: its entries follow the queued ones in each inbox.
            try await hub.changeMembers(appKey: TestApps.a.appKey, gid: group.gid, add: ["dave"], remove: [])
            _ = try await Self.sendToGroup(hub, "g3", gid: group.gid, from: alice)
            let entries = try await Self.inbox(hub, bob)
            #expect(Self.labels(entries) == before + ["g0", "s0", "g1", "s1", "g2", "s2", "event:group_members_added", "g3"])
            #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
            #expect(try Self.queued(store) == 1, "the event moved the six before it; reading moves nothing")
            store.backlog.runNow()
            #expect(try Self.queued(store) == 0)
            #expect(try await Self.inbox(hub, bob) == entries)
            // Each member's sequence is its own: dave's starts with his event.
            let dave = try await hub.user(appKey: TestApps.a.appKey, username: "dave")
            let daves = try await Self.inbox(hub, dave)
            #expect(Self.labels(daves).suffix(2) == ["event:group_members_added", "g3"])
            #expect(daves.map(\.seq) == Array(1...Int64(daves.count)))
        }
    }

    @Test func aWriterThatForgotItsHeadsGivesNoSequenceNumberTwice() async throws {
        try await Self.withStoppedBacklog { hub, store, sandbox, alice, bob in
            // A single message while the queue is empty goes straight to the inbox.
            _ = try await hub.sendText("direct", from: alice, to: "bobby")
            #expect(try Self.queued(store) == 0)
            #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") } == 1)
            let group = try await Self.crowd(hub, with: ["bobby"])
            _ = try await Self.sendToGroup(hub, "g", gid: group.gid, from: alice)
            for i in 0..<3 { _ = try await hub.sendText("m\(i)", from: alice, to: "bobby") }
            #expect(try Self.queued(store) == 4)
            // Another connection commits: the writer's memo forgets every inbox head at its next turn, and reads them
            // from the file, where bob's three entries are still queued.
            // With a busy timeout, as the store's own connections: the store's checkpoint may hold the file a moment.
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            let other = try DatabaseQueue(path: sandbox.databasePath, configuration: configuration)
            try await other.write { db in try db.execute(sql: "UPDATE user SET mtime = mtime + 1") }
            try other.close()
            _ = try await hub.sendText("m3", from: alice, to: "bobby")
            let entries = try await Self.inbox(hub, bob)
            #expect(Self.labels(entries).filter { !$0.hasPrefix("event:") } == ["direct", "g", "m0", "m1", "m2", "m3"])
            #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
            // Moving the queue meets no sequence number twice (a primary-key conflict would throw here).
            let memo = store.memo
            try await store.pool.write { db in try InboxQueue.materializeAll(db, memo: memo) }
            #expect(try Self.queued(store) == 0)
            #expect(try await Self.inbox(hub, bob) == entries)
        }
    }

    @Test func aStoreThatStoppedWithEntriesQueuedDeliversThemAndContinuesTheirSequence() async throws {
        try await Sandbox.with { sandbox in
            do {
                let hub = try await sandbox.openHub()
                let store = try #require(hub.store as? SQLiteHubStore)
                store.backlog.pause()
                let alice = try await hub.make("alice")
                _ = try await hub.make("bobby")
                let group = try await Self.crowd(hub, with: ["bobby"])
                _ = try await Self.sendToGroup(hub, "g", gid: group.gid, from: alice)
                for i in 0..<3 { _ = try await hub.sendText("m\(i)", from: alice, to: "bobby") }
                #expect(try Self.queued(store) == 4)
            }
            let hub = try await sandbox.openHub()
            let alice = try await hub.user(appKey: TestApps.a.appKey, username: "alice")
            let bob = try await hub.user(appKey: TestApps.a.appKey, username: "bobby")
            _ = try await hub.sendText("m3", from: alice, to: "bobby")
            let entries = try await Self.inbox(hub, bob)
            #expect(Self.labels(entries).filter { !$0.hasPrefix("event:") } == ["g", "m0", "m1", "m2", "m3"])
            #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
        }
    }

    @Test func retractionNoDisturbAndExpiryReachQueuedEntries() async throws {
        try await Self.withStoppedBacklog { hub, store, _, alice, bob in
            let carol = try await hub.make("carol")
            try await hub.changeNoDisturb(carol, .init(addSingles: ["alice"]))
            let group = try await Self.crowd(hub, with: ["bobby", "carol"])
            let bobsEvents = try await Self.inbox(hub, bob).count
            _ = try await Self.sendToGroup(hub, "g", gid: group.gid, from: alice)
            let toBob = try await hub.sendText("to bob", from: alice, to: "bobby")
            _ = try await hub.sendText("expires", from: alice, to: "bobby")
            let toCarol = try await hub.sendText("quiet", from: alice, to: "carol")
            #expect(try Self.queued(store) == 4)
            // Read while queued: the no-disturb flag and the receipt lookup.
            let carols = try await Self.inbox(hub, carol)
            #expect(carols.last?.payload == .message(toCarol, noNotification: true))
            #expect(try await hub.inboxSeq(userID: carol.id, msgID: toCarol.msgID) == carols.last?.seq)
            #expect(try Self.queued(store) == 4)
            // The retraction finds bob's queued entry: he gets the event, and the message leaves his inbox.
            try await hub.retract(appKey: TestApps.a.appKey, username: "alice", msgID: toBob.msgID)
            #expect(Self.labels(try await Self.inbox(hub, bob)).dropFirst(bobsEvents)
                        == ["g", "expires", "event:message_retracted"])
            // Expired: "expires" (moved by the retraction) and "expires too" (queued) by `setInboxExpiry`, which
            // moves the queue first; "expired" while it is queued, sent with its expiry.
            _ = try await Self.sendToGroup(hub, "g2", gid: group.gid, from: alice)
            _ = try await hub.sendText("expires too", from: alice, to: "bobby")
            #expect(try Self.queued(store) == 2)
            try await hub.setInboxExpiry(userID: bob.id, seq: Int64(bobsEvents) + 3, expiresAt: 1)
            try await hub.setInboxExpiry(userID: bob.id, seq: Int64(bobsEvents) + 6, expiresAt: 1)
            _ = try await Self.sendToGroup(hub, "g2b", gid: group.gid, from: alice)
            _ = try await hub.sendSingle(.init(targetID: "bobby", body: .text("expired")), from: alice, platform: "web",
                                         expiresAt: 1)
            #expect(try Self.queued(store) == 2)
            #expect(Self.labels(try await Self.inbox(hub, bob)).dropFirst(bobsEvents)
                        == ["g", "event:message_retracted", "g2", "g2b"])
            // The sweep deletes the expired entries but each inbox's last, queued or not.
            _ = try await Self.sendToGroup(hub, "g3", gid: group.gid, from: alice)
            #expect(try Self.queued(store) == 3)
            #expect(try await hub.purgeExpired() == 3, "bob's three: 'expired' was his last entry until g3 moved")
            #expect(try Self.queued(store) == 0)
            #expect(Self.labels(try await Self.inbox(hub, bob)).dropFirst(bobsEvents)
                        == ["g", "event:message_retracted", "g2", "g2b", "g3"])
        }
    }

    @Test func aBatchMovesWholeMessagesAndDeletedAccountsLeaveNoEntry() async throws {
        try await withHub { hub, _ in
            let store = try #require(hub.store as? SQLiteHubStore)
            store.backlog.pause()
            let owner = try await hub.make("owner")
            var members: [User] = []
            for i in 0..<30 { members.append(try await hub.make("member\(i)")) }
            let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                owner: "owner", name: "g", members: members.map(\.username)))
            var sent: [StoredMessage] = []
            for i in 0..<10 {
                sent.append(try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("g\(i)")),
                                               from: owner, platform: "web"))
            }
            #expect(try Self.queued(store) == 10)
            // About 50 entries: two messages of 30 (the owner's other devices have none), whole.
            let memo = store.memo
            let more = try await store.pool.write { db in try InboxQueue.materialize(db, memo: memo, limit: 50) }
            #expect(more)
            #expect(try Self.queued(store) == 8)
            // Read half moved, half queued.
            let first = try await Self.inbox(hub, members[0])
            #expect(first.compactMap(\.stored).map(\.msgID) == sent.map(\.msgID))
            #expect(first.map(\.seq) == Array(1...Int64(first.count)))
            // Paged across the two: a page ending in `inbox`, then the queue.
            let firstPage = try await hub.inbox(userID: members[0].id, after: 0, limit: first.count - 9)
            let rest = try await hub.inbox(userID: members[0].id, after: firstPage.last!.seq, limit: 4)
            #expect(firstPage + rest == Array(first.prefix(firstPage.count + 4)))
            // And a page that starts inside the queue.
            let inQueue = try await hub.inbox(userID: members[0].id, after: rest.last!.seq, limit: 100)
            #expect(firstPage + rest + inQueue == first)
            // Deleting an account deletes its queued entries with the rest.
            #expect(try Self.queued(store) == 8)
            try await hub.deleteUsers(appKey: TestApps.a.appKey, usernames: ["member1"])
            #expect(try Self.queued(store) == 0)
            let deleted = members[1].id
            let (queued, left) = try await store.pool.read { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox_queue") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox WHERE user_id = ?", arguments: [deleted]) ?? 0)
            }
            #expect(queued == 0 && left == 0)
            #expect(try await Self.inbox(hub, members[1]).isEmpty)
            let last = try await Self.inbox(hub, members[29])
            #expect(last.compactMap(\.stored).map(\.msgID) == sent.map(\.msgID))
        }
    }

    @Test func aMoveThatFailsLeavesReadsAndTheHistoryIndexWorking() async throws {
        try await Self.withStoppedBacklog { hub, store, _, alice, bob in
            let group = try await Self.crowd(hub, with: ["bobby"])
            _ = try await Self.sendToGroup(hub, "g", gid: group.gid, from: alice)
            _ = try await hub.sendText("m", from: alice, to: "bobby")
            let expected = try await Self.inbox(hub, bob)
            // Every insert into `inbox` fails: the backlog cannot move the queue.
            try await store.pool.write { db in
                try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'refused'); END")
            }
            store.backlog.runNow()
            #expect(try Self.queued(store) == 2)
            #expect(try await Self.inbox(hub, bob) == expected, "reads take the queued entries, whatever the backlog")
            #expect(try HistoryIndexTests.position(store).position == HistoryIndexTests.position(store).last,
                    "the history index moves on its own")
            try await store.pool.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
            store.backlog.runNow()
            #expect(try Self.queued(store) == 0)
            #expect(try await Self.inbox(hub, bob) == expected)
        }
    }

    @Test func aSendToAFewInboxesIsQueuedExactlyWhileTheQueueHoldsEntries() async throws {
        try await Self.withStoppedBacklog { hub, store, _, alice, bob in
            let group = try await Self.crowd(hub, with: ["bobby"])
            func counts() async throws -> (queued: Int, rows: Int) {
                try await store.pool.read { db in
                    (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox_queue") ?? 0,
                     try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") ?? 0)
                }
            }
            var expected: [String] = []
            // Round 1 is the one that checks the memo: round 0's direct send taught it the queue was empty, and the
            // group message after that must make it read the queue again.
            for round in 0..<2 {
                _ = try await Self.sendToGroup(hub, "g\(round)", gid: group.gid, from: alice)
                _ = try await hub.sendText("queued \(round)", from: alice, to: "bobby")
                #expect(try await counts().queued == 2, "round \(round): the single message follows the group's")
                store.backlog.runNow()
                let rows = try await counts().rows
                _ = try await hub.sendText("direct \(round)", from: alice, to: "bobby")
                #expect(try await counts() == (0, rows + 1), "round \(round): the queue is empty again")
                expected += ["g\(round)", "queued \(round)", "direct \(round)"]
            }
            let entries = try await Self.inbox(hub, bob)
            #expect(Self.labels(entries).filter { !$0.hasPrefix("event:") } == expected)
            #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
        }
    }
}
