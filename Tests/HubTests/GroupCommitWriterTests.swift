import Dispatch
import Foundation
import GRDB
@testable import Hub
import IMProtocol
import Synchronization
import Testing

/// `GroupCommitWriter`: writes waiting together share one transaction (one fsync), each caller answered after the
/// commit with its own result, a failing write rolled back alone.
@Suite("GroupCommitWriter")
struct GroupCommitWriterTests {
    struct Refused: Error {}

    static func open() throws -> (DatabasePool, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-commit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER NOT NULL)")
        }
        return (try DurableDatabase.open(path: dir.path + "/t.sqlite", migrator: migrator), dir)
    }

    @Test("50 writes waiting at one turn commit in one transaction; a failing one fails alone")
    func waitingWritesShareOneCommit() async throws {
        let (pool, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = GroupCommitWriter(pool)
        let counter = AckGroupCommitTests.CommitCounter()
        try await pool.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = counter.commits.withLock { $0 }

        // Hold GRDB's writer so that every write below waits for the same turn.
        let gate = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        let results = try await withThrowingTaskGroup(of: (Int, Result<Int64, Refused>).self) { group in
            for i in 1...50 {
                group.addTask {
                    do {
                        let id = try await writer.write { db -> Int64 in
                            try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i])
                            if i == 25 { throw Refused() }
                            return db.lastInsertedRowID
                        }
                        return (i, .success(id))
                    } catch is Refused {
                        return (i, .failure(Refused()))
                    }
                }
            }
            while writer.waiting < 50 { await Task.yield() }
            gate.signal()
            var all: [Int: Result<Int64, Refused>] = [:]
            for try await (i, result) in group { all[i] = result }
            return all
        }

        #expect(counter.commits.withLock { $0 } - before == 1)
        let stored = try await pool.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, v FROM t").map {
                (($0["v"] as Int), ($0["id"] as Int64))
            })
        }
        #expect(stored.count == 49)
        #expect(stored[25] == nil)
        for i in 1...50 where i != 25 {
            // Each caller got the id of its own row.
            #expect(try results[i]?.get() == stored[i])
        }
        if case .success = results[25] { Issue.record("the refused write succeeded") }
    }

    @Test("more writes than one turn takes are all stored, over several turns")
    func laterWritesGetTheNextTurn() async throws {
        let (pool, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = GroupCommitWriter(pool, maxBatch: 3)
        // More than one batch: the writer takes 3 per turn and queues the next turn itself.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...10 {
                group.addTask { _ = try await writer.write { db in try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i]) } }
            }
            try await group.waitForAll()
        }
        let count = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") }
        #expect(count == 10)
        #expect(writer.waiting == 0)
    }

    @Test("the device records of 40 logins waiting together commit in one transaction")
    func loginsShareACommit() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-commit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        try await store.syncApps(TestApps.all)
        var ids: [Int64] = []
        for i in 1...40 {
            let user = try #require(try await store.insertUser(appKey: TestApps.a.appKey, username: "user\(i)", kind: .user,
                                                               passwordHash: "h", profile: Profile(), now: 1))
            ids.append(user.id)
        }
        let counter = AckGroupCommitTests.CommitCounter()
        try await store.pool.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = counter.commits.withLock { $0 }
        let gate = DispatchSemaphore(value: 0)
        store.pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { try await store.recordLogin(userID: id, device: "phone", platform: "a", now: 2) }
            }
            while store.groupWriter.waiting < ids.count { await Task.yield() }
            gate.signal()
            try await group.waitForAll()
        }
        #expect(counter.commits.withLock { $0 } - before == 1)
        for id in ids {
            #expect(try await store.devices(userID: id).map(\.device) == ["phone"])
        }
    }

    @Test("a submitted write keeps its place in the order, settles before a later read, and fails alone")
    func submittedWritesAreOrderedAndSettle() async throws {
        let (pool, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = GroupCommitWriter(pool)
        let failures = Mutex<[String]>([])
        // Hold GRDB's writer: nothing below can commit until the gate opens.
        let gate = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        writer.submit({ db in try db.execute(sql: "INSERT INTO t (id, v) VALUES (1, 1)") },
                      failed: { error in failures.withLock { $0.append("first: \(error)") } })
        writer.submit({ _ in throw Refused() }, failed: { _ in failures.withLock { $0.append("refused") } })
        // Runs after the first: it sees its row and changes it.
        writer.submit({ db in try db.execute(sql: "UPDATE t SET v = v + 10 WHERE id = 1") },
                      failed: { error in failures.withLock { $0.append("second: \(error)") } })
        #expect(writer.waiting == 3)
        async let settled: Void = writer.settled()
        while writer.waiting < 4 { await Task.yield() }
        gate.signal()
        await settled
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT v FROM t WHERE id = 1") } == 11)
        #expect(failures.withLock { $0 } == ["refused"])
        // Nothing submitted is waiting: settling returns, and leaves nothing queued.
        await writer.settled()
        #expect(writer.waiting == 0)
    }
}
