import Dispatch
import Foundation
import GRDB
@testable import Hub
import IMProtocol
import Synchronization
import Testing

/// Acknowledgements of different sessions share the writer's turns (`AppendBatcher.advance`): every cursor advance
/// waiting when a turn starts is stored in that turn's one transaction, and returns only after it committed.
@Suite("SQLiteHubStore group commit of acknowledgements")
struct AckGroupCommitTests {
    /// Counts the commits of a database (every transaction of the writer, whatever it changed).
    final class CommitCounter: TransactionObserver, Sendable {
        let commits = Mutex(0)
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) {}
    }

    @Test("the advances of 100 devices waiting at one turn commit in one transaction, each never backward")
    func advancesWaitingTogetherShareOneCommit() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ack-commit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        try await store.advanceCursor(userID: 7, device: "phone", to: 5)
        let counter = CommitCounter()
        try await store.pool.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = counter.commits.withLock { $0 }

        // Hold the writer so that every advance below waits for the same turn.
        let gate = DispatchSemaphore(value: 0)
        store.pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for user in 1...100 {
                group.addTask { try await store.advanceCursor(userID: Int64(user), device: "d", to: Int64(user * 2)) }
            }
            // One device acknowledged three times, the last request lower than the cursor: the highest wins.
            for seq in [9, 12, 3] as [Int64] {
                group.addTask { try await store.advanceCursor(userID: 7, device: "phone", to: seq) }
            }
            while store.batcher.waitingCursors < 103 { await Task.yield() }
            gate.signal()
            try await group.waitForAll()
        }

        #expect(counter.commits.withLock { $0 } - before == 1)
        for user in 1...100 {
            #expect(try await store.cursor(userID: Int64(user), device: "d") == Int64(user * 2))
        }
        #expect(try await store.cursor(userID: 7, device: "phone") == 12)
        try await store.advanceCursor(userID: 7, device: "phone", to: 4)
        #expect(try await store.cursor(userID: 7, device: "phone") == 12)
    }

    @Test("advances and appends waiting together share the turn, and each returns after its commit")
    func advancesAndAppendsShareATurn() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ack-commit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        try await store.syncApps(TestApps.all)
        let alice = try #require(try await store.insertUser(appKey: TestApps.a.appKey, username: "alice",
                                                             kind: .user, passwordHash: "h", profile: Profile(), now: 1))
        let bob = try #require(try await store.insertUser(appKey: TestApps.a.appKey, username: "bobby",
                                                           kind: .user, passwordHash: "h", profile: Profile(), now: 1))
        let first = try await store.append(Self.pending("one", from: alice, to: bob))
        // The writer's backlog (history index, queued inbox entries) commits on its own a moment after appends: not
        // part of the turn counted here.
        store.backlog.pause()
        let counter = CommitCounter()
        try await store.pool.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = counter.commits.withLock { $0 }

        let gate = DispatchSemaphore(value: 0)
        store.pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        let second = try await withThrowingTaskGroup(of: AppendResult?.self) { group in
            group.addTask { try await store.append(Self.pending("two", from: alice, to: bob)) }
            group.addTask {
                try await store.advanceCursor(userID: bob.id, device: "d", to: first.entries[0].seq)
                return nil
            }
            while store.batcher.waitingCursors < 1 || store.batcher.waitingAppends < 1 { await Task.yield() }
            gate.signal()
            return try await group.reduce(into: [AppendResult]()) { if let r = $1 { $0.append(r) } }
        }
        #expect(counter.commits.withLock { $0 } - before == 1)
        #expect(second.first?.entries.first?.seq == 2)
        #expect(try await store.cursor(userID: bob.id, device: "d") == 1)
        let unread = try await store.inbox(userID: bob.id, after: 1, limit: 10, now: Hub.nowMillis())
        #expect(unread.map(\.seq) == [2])
    }

    static func pending(_ text: String, from sender: User, to recipient: User) -> PendingMessage {
        let message = Message(targetType: .single, targetID: recipient.username, fromType: .user,
                              fromID: sender.username, fromAppKey: sender.appKey, fromPlatform: "web",
                              createTime: 1, body: .text(text))
        return PendingMessage(message: message, senderUserID: sender.id, requestID: nil,
                              recipients: [recipient.id], now: 1_000)
    }
}
