import Foundation
import GRDB
import IMProtocol
import Testing
@testable import Hub

/// The SQLite store's history index behind the writer (`HistoryIndexer`): history reads the same whether the keys
/// of its messages are written, half written or not yet, a store that stopped before writing them writes them when it
/// opens again, and a file from before the index gets its keys when it is migrated.
@Suite struct HistoryIndexTests {
    /// Apps A and B, B taking messages from A's users.
    static let apps: [AppSettings] = {
        var b = TestApps.b
        b.crossApp = [TestApps.a.appKey]
        return [TestApps.a, b]
    }()

    /// Every kind of history query over a store, paged two at a time, for comparing one state of the index with
    /// another.
    static func everyQuery(_ hub: Hub, gid: Int64) async throws -> [[StoredMessage]] {
        var queries: [HistoryQuery] = []
        for appKey in [TestApps.a.appKey, TestApps.b.appKey] {
            queries.append(allTime(appKey: appKey))
            for name in ["alice", "bobby", "carol", "nobody"] { queries.append(allTime(username: name, appKey: appKey)) }
        }
        queries.append(HistoryQuery(appKey: TestApps.a.appKey, conversation: (.group, String(gid)), beginTime: 0,
                                    endTime: .max, count: 100))
        queries.append(HistoryQuery(appKey: TestApps.a.appKey, conversation: (.single, "bobby"), beginTime: 0,
                                    endTime: .max, count: 100))
        var results: [[StoredMessage]] = []
        for query in queries {
            // Paged two at a time through the whole result, and the total checked against it.
            var page = query
            page.count = 2
            var messages: [StoredMessage] = []
            while true {
                let got = try await hub.history(page)
                messages += got.messages
                guard got.messages.count == 2 else {
                    #expect(got.total == messages.count, "\(query)")
                    break
                }
                page.afterMsgID = got.messages.last!.msgID
            }
            #expect(try await hub.history(query).messages == messages)
            results.append(messages)
        }
        return results
    }

    /// Single chats in both apps and across them, and a group.
    static func converse(_ hub: Hub) async throws -> (gid: Int64, sent: [StoredMessage]) {
        let alice = try await hub.make("alice")
        let bob = try await hub.make("bobby")
        let carol = try await hub.make("carol")
        let aliceInB = try await hub.make("alice", appKey: TestApps.b.appKey)
        _ = try await hub.make("bobby", appKey: TestApps.b.appKey)
        let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
            owner: "alice", name: "g", members: ["bobby", "carol"]))
        var sent: [StoredMessage] = []
        for i in 0..<3 {
            sent.append(try await hub.sendText("a->b \(i)", from: alice, to: "bobby"))
            sent.append(try await hub.sendText("b->a \(i)", from: bob, to: "alice"))
            sent.append(try await hub.sendText("c->b(B) \(i)", from: carol, to: "bobby", targetAppKey: TestApps.b.appKey))
            sent.append(try await hub.sendText("a(B)->b(B) \(i)", from: aliceInB, to: "bobby"))
            sent.append(try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("g \(i)")),
                                           from: carol, platform: "web"))
            sent.append(try await hub.sendText("b->b \(i)", from: bob, to: "bobby"))
        }
        return (group.gid, sent)
    }

    /// The position of the index and the messages' last id.
    static func position(_ store: SQLiteHubStore) throws -> (position: Int64, last: Int64) {
        try store.pool.read { db in
            (try HistoryIndexer.position(db),
             try Int64.fetchOne(db, sql: "SELECT MAX(msg_id) FROM message") ?? 0)
        }
    }

    @Test func historyReadsTheSameWithTheKeysWrittenHalfWrittenOrNot() async throws {
        try await withHub(apps: Self.apps) { hub, _ in
            let store = try #require(hub.store as? SQLiteHubStore)
            let (gid, sent) = try await Self.converse(hub)
            // Nothing indexed: the index's own runs (a moment after appends) stopped, and what they wrote undone.
            store.backlog.pause()
            try await store.pool.write { db in
                try db.execute(sql: "DELETE FROM history_key")
                try db.execute(sql: "UPDATE history_position SET msg_id = 0")
            }
            let unindexed = try await Self.everyQuery(hub, gid: gid)
            #expect(unindexed[0].count == sent.count - 3, "app A's history: all but B's own three")
            // Half the messages indexed, then all.
            _ = try await store.pool.write { db in try HistoryIndexer.index(db, limit: sent.count / 2) }
            #expect(try Self.position(store).position == sent[sent.count / 2 - 1].msgID)
            #expect(try await Self.everyQuery(hub, gid: gid) == unindexed)
            while try await store.pool.write({ db in try HistoryIndexer.index(db, limit: 5) }) {}
            let (position, last) = try Self.position(store)
            #expect(position == last)
            #expect(try await Self.everyQuery(hub, gid: gid) == unindexed)
            // A retracted message leaves history whichever way it is found.
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE message SET retracted = 1 WHERE msg_id = ?", arguments: [sent[0].msgID])
            }
            let alice = try await hub.history(allTime(username: "alice"))
            #expect(!alice.messages.contains(sent[0]) && alice.messages.contains(sent[1]))
        }
    }

    /// More candidates than one chunk of ids (500): the counts and the pages across chunks, and a time window, read
    /// the same from the lists as from `message`.
    @Test func manyMessagesAndATimeWindowReadTheSameFromTheLists() async throws {
        try await withHub(apps: Self.apps) { hub, _ in
            let store = try #require(hub.store as? SQLiteHubStore)
            store.backlog.pause()
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            var sent: [StoredMessage] = []
            for i in 0..<1_200 { sent.append(try await hub.sendText("m\(i)", from: alice, to: "bobby")) }
            let window = HistoryQuery(appKey: TestApps.a.appKey, username: "bobby", beginTime: sent[400].msgCtime,
                                      endTime: sent[900].msgCtime, count: 300)
            func pages(_ query: HistoryQuery) async throws -> (total: Int, messages: [StoredMessage]) {
                var query = query
                var messages: [StoredMessage] = []
                var total = -1
                while true {
                    let page = try await hub.history(query)
                    total = page.total
                    messages += page.messages
                    guard page.messages.count == query.count else { return (total, messages) }
                    query.afterMsgID = page.messages.last!.msgID
                }
            }
            let queries = [window, allTime(username: "alice", count: 300), allTime(count: 1_000)]
            var unindexed: [(total: Int, messages: [StoredMessage])] = []
            for query in queries { unindexed.append(try await pages(query)) }
            #expect(unindexed[1].messages == sent && unindexed[1].total == 1_200)
            let inWindow = sent.filter { $0.msgCtime >= window.beginTime && $0.msgCtime <= window.endTime }
            #expect(unindexed[0].messages == inWindow && unindexed[0].total == inWindow.count)
            store.backlog.runNow()
            #expect(try Self.position(store).position == sent.last!.msgID)
            for (query, expected) in zip(queries, unindexed) {
                let indexed = try await pages(query)
                #expect(indexed.total == expected.total && indexed.messages == expected.messages, "\(query)")
            }
        }
    }

    @Test func keysLeftUnwrittenByAStoreThatStoppedAreWrittenWhenItOpens() async throws {
        try await Sandbox.with { sandbox in
            let last: Int64
            do {
                let hub = try await sandbox.openHub(apps: Self.apps)
                let store = try #require(hub.store as? SQLiteHubStore)
                _ = try await Self.converse(hub)
                // As if it stopped before its index ran: the keys and the position put back to nothing.
                store.backlog.pause()
                try await store.pool.write { db in
                    try db.execute(sql: "DELETE FROM history_key")
                    try db.execute(sql: "UPDATE history_position SET msg_id = 0")
                }
                last = try Self.position(store).last
            }
            let store = try SQLiteHubStore(path: sandbox.databasePath)
            // The opened store's index catches up by itself; `runNow()` waits for it in this test.
            store.backlog.runNow()
            #expect(try Self.position(store) == (last, last))
            let keys = try await store.pool.read { db in
                try HistoryIndexer.ids(db, .user(appKey: TestApps.a.appKey, name: "alice")).count
                    + HistoryIndexer.ids(db, .user(appKey: TestApps.b.appKey, name: "alice")).count
            }
            #expect(keys == 9, "alice of A sent 3 and got 3, alice of B sent 3")
        }
    }

    @Test func aFileFromBeforeTheIndexGetsItsKeysWhenMigrated() async throws {
        try await Sandbox.with { sandbox in
            // The file as the release before it left it: messages, and the two indexes on `message`.
            let queue = try DatabaseQueue(path: sandbox.databasePath)
            try SQLiteHubStore.migrator.migrate(queue, upTo: "routing: event log")
            try await queue.write { db in
                for (from, target, type) in [("alice", "bobby", TargetType.single), ("bobby", "alice", .single),
                                             ("carol", "7", .group)] {
                    let message = Message(targetType: type, targetID: target, fromType: .user, fromID: from,
                                          fromAppKey: TestApps.a.appKey, fromPlatform: "web", createTime: 1,
                                          body: .text("old"))
                    try db.execute(sql: """
                        INSERT INTO message (from_appkey, from_id, target_type, target_appkey, target_id, msg_ctime,
                                             sender_user_id, body)
                        VALUES (?, ?, ?, ?, ?, 1000, 1, ?)
                        """, arguments: [TestApps.a.appKey, from, type.rawValue, TestApps.a.appKey, target,
                                         Data(message.json.serialized())])
                }
            }
            try queue.close()
            let store = try SQLiteHubStore(path: sandbox.databasePath)
            #expect(try Self.position(store) == (3, 3))
            let (indexes, keys) = try await store.pool.read { db in
                (try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'message'"),
                 try Row.fetchAll(db, sql: "SELECT kind, name, ids FROM history_key ORDER BY kind, name").map {
                     "\($0["kind"] as String):\($0["name"] as String):\(Int64Blob.decode($0["ids"]))"
                 })
            }
            #expect(!indexes.contains("message_from") && !indexes.contains("message_target"))
            #expect(keys == ["a::[1, 2, 3]", "g:7:[3]", "u:alice:[1, 2]", "u:bobby:[1, 2]", "u:carol:[3]"])
            let page = try await store.history(allTime(username: "alice"))
            #expect(page.messages.map(\.msgID) == [1, 2])
            let group = try await store.history(HistoryQuery(appKey: TestApps.a.appKey, conversation: (.group, "7"),
                                                             beginTime: 0, endTime: .max, count: 10))
            #expect(group.messages.map(\.msgID) == [3])
        }
    }
}
