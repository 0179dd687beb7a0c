import Dispatch
import Foundation
import GRDB
@testable import Hub
import IMProtocol
import Synchronization
import Testing

/// `AppendBatcher` runs each piece without a savepoint of its own: a piece that fails before writing fails alone in
/// the same transaction; one that fails after writing has the turn rolled back and run again with a savepoint per
/// piece, so its writes are undone and every other piece is stored once.
@Suite("AppendBatcher")
struct AppendBatcherTests {
    struct Refused: Error {}

    /// Counts commits and rollbacks of the writer's connection.
    final class TransactionCounter: TransactionObserver, Sendable {
        let commits = Mutex(0)
        let rollbacks = Mutex(0)
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) { rollbacks.withLock { $0 += 1 } }
    }

    /// How a piece ends.
    enum Piece { case stores, refusesBeforeWriting, failsAfterWriting }

    /// Runs `pieces` in one turn of a fresh batcher (each inserts its index into `t` unless refused first) and
    /// returns, per piece, whether it succeeded and how often it ran, with the rows stored and the transactions.
    static func run(_ pieces: [Piece]) async throws
        -> (succeeded: [Bool], runs: [Int], stored: [Int64], commits: Int, rollbacks: Int) {
        let (pool, dir) = try GroupCommitWriterTests.open()
        defer { try? FileManager.default.removeItem(at: dir) }
        let counter = TransactionCounter()
        try await pool.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let (commitsBefore, rollbacksBefore) = (counter.commits.withLock { $0 }, counter.rollbacks.withLock { $0 })
        let batcher = AppendBatcher()
        let runs = Mutex([Int](repeating: 0, count: pieces.count))
        let (results, sink) = AsyncStream.makeStream(of: (Int, Bool).self)
        let message = Message(targetType: .single, targetID: "b", fromType: .user, fromID: "a", fromPlatform: "web",
                              createTime: 1, body: .text("x"))

        // Hold GRDB's writer so that every piece waits for the same turn.
        let gate = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in gate.wait() }
        for (i, piece) in pieces.enumerated() {
            batcher.submit(pool: pool, { db in
                runs.withLock { $0[i] += 1 }
                if piece == .refusesBeforeWriting { throw Refused() }
                try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i])
                if piece == .failsAfterWriting { throw Refused() }
                return AppendResult(stored: StoredMessage(msgID: db.lastInsertedRowID, msgCtime: 1, message: message),
                                    entries: [], duplicate: false)
            }, done: { result in
                if case .failure(let error) = result { #expect(error is Refused) }
                sink.yield((i, (try? result.get()) != nil))
            })
        }
        #expect(batcher.waitingAppends == pieces.count)
        gate.signal()
        var succeeded = [Bool](repeating: false, count: pieces.count)
        var told = 0
        for await (i, ok) in results {
            succeeded[i] = ok
            told += 1
            if told == pieces.count { break }
        }
        let stored = try await pool.read { db in try Int64.fetchAll(db, sql: "SELECT v FROM t ORDER BY id") }
        return (succeeded, runs.withLock { $0 }, stored, counter.commits.withLock { $0 } - commitsBefore,
                counter.rollbacks.withLock { $0 } - rollbacksBefore)
    }

    @Test("a piece refused before it writes fails alone: one transaction, every piece run once")
    func aRefusalBeforeWritingUndoesNothing() async throws {
        let r = try await Self.run([.stores, .refusesBeforeWriting, .stores, .refusesBeforeWriting, .stores])
        #expect(r.succeeded == [true, false, true, false, true])
        #expect(r.stored == [0, 2, 4])
        #expect(r.runs == [1, 1, 1, 1, 1])
        #expect(r.commits == 1)
        #expect(r.rollbacks == 0)
    }

    @Test("a piece failing after it wrote has the turn run again with savepoints: its row is gone, the others stored once")
    func aFailureAfterWritingIsUndoneAlone() async throws {
        let r = try await Self.run([.stores, .refusesBeforeWriting, .failsAfterWriting, .stores, .stores])
        #expect(r.succeeded == [true, false, false, true, true])
        #expect(r.stored == [0, 3, 4])
        // The first run went as far as the failing piece; the second ran every piece.
        #expect(r.runs == [2, 2, 2, 1, 1])
        #expect(r.commits == 1)
        #expect(r.rollbacks == 1)
    }
}
