import GRDB
import Synchronization

/// The single writer of `SQLiteHubStore`'s messages: appends (and single-chat sends with their rule reads) wait in
/// one queue, and each turn of GRDB's writer takes every one waiting (up to `maxBatch`) and stores them in one
/// transaction, so N concurrent messages cost one commit and one fsync instead of N, and no task or await chain per
/// message: a submitter queues its work with a completion and returns.
///
/// Work runs in the order it was queued, each in its own savepoint, so one failing append fails alone; every
/// completion runs only after the transaction holding its message committed ("durable before sent"). Between turns
/// the writer's other work (acknowledgements, logins) gets its place in GRDB's queue.
final class AppendBatcher: Sendable {
    /// One piece of work, run inside the batch's transaction.
    typealias Work = @Sendable (Database) throws -> AppendResult
    /// Told the outcome after the commit (or the failure), on the writer's queue.
    typealias Completion = @Sendable (Result<AppendResult, any Error>) -> Void

    private struct State {
        var queue: [(work: Work, done: Completion)] = []
        var writing = false
    }

    private let state = Mutex(State())
    /// The most appends one transaction takes, to bound the latency of the first of them.
    let maxBatch: Int

    init(maxBatch: Int = 512) {
        self.maxBatch = maxBatch
    }

    /// Queues `work`; `done` gets its result once the transaction holding it committed. Work is stored in the order
    /// of the calls.
    func submit(pool: DatabasePool, _ work: @escaping Work, done: @escaping Completion) {
        let lead = state.withLock { s in
            s.queue.append((work, done))
            if s.writing { return false }
            s.writing = true
            return true
        }
        if lead { schedule(pool) }
    }

    /// Queues an append and waits for its commit.
    func append(_ pending: PendingMessage, pool: DatabasePool,
                _ body: @escaping @Sendable (Database, PendingMessage) throws -> AppendResult) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<AppendResult, any Error>) in
            submit(pool: pool, { db in try body(db, pending) }, done: { waiter.resume(with: $0) })
        }
    }

    private func schedule(_ pool: DatabasePool) {
        pool.asyncWriteWithoutTransaction { db in self.turn(db, pool: pool) }
    }

    /// One turn of the writer: everything waiting (up to `maxBatch`) in one transaction, then the completions; the
    /// next turn is queued behind the writer's other work when more is waiting.
    private func turn(_ db: Database, pool: DatabasePool) {
        let batch: [(work: Work, done: Completion)] = state.withLock { s in
            if s.queue.count <= maxBatch {
                defer { s.queue.removeAll(keepingCapacity: true) }
                return s.queue
            }
            let taken = Array(s.queue.prefix(maxBatch))
            s.queue.removeFirst(maxBatch)
            return taken
        }
        var results: [Result<AppendResult, any Error>] = []
        results.reserveCapacity(batch.count)
        do {
            try db.inTransaction {
                for item in batch {
                    var result: AppendResult?
                    do {
                        try db.inSavepoint {
                            result = try item.work(db)
                            return .commit
                        }
                        results.append(result.map { .success($0) } ?? .failure(CancellationError()))
                    } catch {
                        results.append(.failure(error))
                    }
                }
                return .commit
            }
        } catch {
            // The transaction itself failed to commit: none of the batch is stored.
            results = batch.map { _ in .failure(error) }
        }
        for (item, result) in zip(batch, results) { item.done(result) }
        let more = state.withLock { s in
            if !s.queue.isEmpty { return true }
            s.writing = false
            return false
        }
        if more { schedule(pool) }
    }
}
