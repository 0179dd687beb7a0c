import GRDB
import Synchronization

/// Group commit for the writes of a SQLite pool that need no order beyond the order of their calls: every write
/// waiting when GRDB's writer gets to it runs in one transaction (one failing write fails alone: `TurnPieces`, so a
/// write's body may run twice and must only read and write the database), and each caller is answered only after
/// that transaction committed. N concurrent writes cost one commit and one fsync instead of N (under
/// `synchronous = FULL` each commit is an fsync; the bridge's pushes and delivery records waited on one each).
///
/// The hub's messages have their own writer (`AppendBatcher`), which also merges acknowledgements per device.
public final class GroupCommitWriter: Sendable {
    private struct Item: Sendable {
        var run: @Sendable (Database) throws -> Void
        var done: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var queue: [Item] = []
        var writing = false
        /// Writes queued by ``submit(_:failed:)`` whose transaction has not ended yet.
        var unsettled = 0
    }

    /// Holds one write's result from its run (on the writer's queue) to its completion (on the same queue).
    private final class ResultBox<T>: @unchecked Sendable {
        var value: T?
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    /// The most writes one transaction takes, to bound the latency of the first of them.
    private let maxBatch: Int

    /// A writer of `pool`'s writes, at most `maxBatch` per transaction.
    public init(_ pool: DatabasePool, maxBatch: Int = 256) {
        self.pool = pool
        self.maxBatch = maxBatch
    }

    /// How many writes wait for a turn (tests).
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Runs `body` in the next turn's transaction and returns its result once that transaction committed; a
    /// throwing `body` rolls back only its own changes. Writes run in the order of the calls.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<T, any Error>) in
            let box = ResultBox<T>()
            let item = Item(run: { db in box.value = try body(db) }, done: { error in
                if let error {
                    waiter.resume(throwing: error)
                } else if let value = box.value {
                    waiter.resume(returning: value)
                } else {
                    waiter.resume(throwing: CancellationError())
                }
            })
            enqueue(item)
        }
    }

    /// Queues `body` for the next turn's transaction and returns without waiting for it: for a write whose loss in
    /// a crash is repaired by other means (the bridge's delivery status: `recover()` redoes a delivery left
    /// pending). It keeps its place in the order of the calls; `failed` hears it if it did not commit. A write
    /// awaited later, or ``settled()``, returns only after it.
    public func submit(_ body: @escaping @Sendable (Database) throws -> Void,
                       failed: @escaping @Sendable (any Error) -> Void) {
        let item = Item(run: body, done: { error in
            self.state.withLock { $0.unsettled -= 1 }
            if let error { failed(error) }
        })
        state.withLock { $0.unsettled += 1 }
        enqueue(item)
    }

    /// Returns once every write submitted before this call has committed or failed; at once when none is waiting.
    /// Reads that must see submitted writes call it first.
    public func settled() async {
        guard state.withLock({ $0.unsettled > 0 }) else { return }
        // Writes run in the order of the calls: an empty write ends with the turn of the last one submitted.
        _ = try? await write { _ in }
    }

    private func enqueue(_ item: Item) {
        let lead = state.withLock { s in
            s.queue.append(item)
            if s.writing { return false }
            s.writing = true
            return true
        }
        if lead { schedule() }
    }

    private func schedule() {
        pool.asyncWriteWithoutTransaction { db in self.turn(db) }
    }

    /// One turn: everything waiting (up to `maxBatch`) in one transaction, then the completions; the next turn is
    /// queued behind the writer's other work when more is waiting.
    private func turn(_ db: Database) {
        let batch: [Item] = state.withLock { s in
            if s.queue.count <= maxBatch {
                defer { s.queue.removeAll(keepingCapacity: true) }
                return s.queue
            }
            let taken = Array(s.queue.prefix(maxBatch))
            s.queue.removeFirst(maxBatch)
            return taken
        }
        var errors: [(any Error)?]
        do {
            do {
                errors = try store(db, batch, savepointEach: false)
            } catch is TurnPieces.FailedAfterWriting {
                errors = try store(db, batch, savepointEach: true)
            }
        } catch {
            // The transaction itself failed to commit: none of the batch is stored.
            errors = batch.map { _ in error }
        }
        for (item, error) in zip(batch, errors) { item.done(error) }
        let more = state.withLock { s in
            if !s.queue.isEmpty { return true }
            s.writing = false
            return false
        }
        if more { schedule() }
    }

    /// Runs the batch in one transaction (see `TurnPieces` for `savepointEach`); each write's error, nil if stored.
    private func store(_ db: Database, _ batch: [Item], savepointEach: Bool) throws -> [(any Error)?] {
        var errors: [(any Error)?] = []
        try db.inTransaction {
            errors = try TurnPieces.run(db, batch, savepointEach: savepointEach) { try $0.run(db) }.map { result in
                if case .failure(let error) = result { return error }
                return nil
            }
            return .commit
        }
        return errors
    }
}
