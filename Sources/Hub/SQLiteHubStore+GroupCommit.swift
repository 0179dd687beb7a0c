import GRDB
import Synchronization

/// Group commit for `SQLiteHubStore.append`: appends that arrive while a write transaction is running wait and are
/// then stored together in the next one, so N concurrent messages cost one commit and one fsync instead of N.
///
/// Each append runs in its own savepoint, so one failing append fails alone; a message is still answered only after
/// the transaction holding it committed ("durable before sent").
final class AppendBatcher: Sendable {
    typealias Waiter = CheckedContinuation<AppendResult, any Error>

    private struct State {
        var queue: [(pending: PendingMessage, waiter: Waiter)] = []
        var writing = false
    }

    private let state = Mutex(State())
    /// The most appends one transaction takes, to bound the latency of the first of them.
    let maxBatch: Int

    init(maxBatch: Int = 512) {
        self.maxBatch = maxBatch
    }

    /// Queues `pending`; the first append to find no transaction running starts the writer.
    func append(_ pending: PendingMessage, pool: DatabasePool,
                _ body: @escaping @Sendable (Database, PendingMessage) throws -> AppendResult) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let lead = state.withLock { s in
                s.queue.append((pending, waiter))
                if s.writing { return false }
                s.writing = true
                return true
            }
            if lead {
                Task { await self.drain(pool: pool, body) }
            }
        }
    }

    /// Writes batches until the queue is empty.
    private func drain(pool: DatabasePool,
                       _ body: @escaping @Sendable (Database, PendingMessage) throws -> AppendResult) async {
        while true {
            let batch: [(pending: PendingMessage, waiter: Waiter)] = state.withLock { s in
                if s.queue.isEmpty {
                    s.writing = false
                    return []
                }
                let n = min(maxBatch, s.queue.count)
                let taken = Array(s.queue.prefix(n))
                s.queue.removeFirst(n)
                return taken
            }
            if batch.isEmpty { return }
            let pendings = batch.map(\.pending)
            do {
                let results = try await pool.write { db -> [Result<AppendResult, any Error>] in
                    pendings.map { pending in
                        var result: AppendResult?
                        do {
                            try db.inSavepoint {
                                result = try body(db, pending)
                                return .commit
                            }
                            guard let result else { return .failure(CancellationError()) }
                            return .success(result)
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                for (item, result) in zip(batch, results) { item.waiter.resume(with: result) }
            } catch {
                // The transaction itself failed to commit: none of the batch is stored.
                for item in batch { item.waiter.resume(throwing: error) }
            }
        }
    }
}
