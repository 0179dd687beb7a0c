import GRDB
import Synchronization

/// The single writer of `SQLiteHubStore`'s messages: appends (and single-chat sends with their rule reads) wait in
/// one queue, and each turn of GRDB's writer takes every one waiting (up to `maxBatch`) and stores them in one
/// transaction, so N concurrent messages cost one commit and one fsync instead of N, and no task or await chain per
/// message: a submitter queues its work with a completion and returns.
///
/// Work runs in the order it was queued, and one failing piece fails alone (`TurnPieces`: no savepoint per piece
/// unless a piece fails after writing, so a piece may run twice); every completion runs only after the transaction
/// holding its message committed ("durable before sent"). Between turns the writer's other work (logins,
/// settings) gets its place in GRDB's queue.
///
/// Acknowledgements (cursor advances) wait in the same writer: every advance waiting at a turn, from any session,
/// is stored in that turn's transaction (one upsert per device, the highest seq), so a group message acknowledged
/// by 1,000 members costs one commit and one fsync instead of 1,000. An advance returns only after its commit. An
/// acknowledged entry was delivered, so its append committed before: the order between the two queues is free.
final class AppendBatcher: Sendable {
    /// One piece of work, run inside the batch's transaction; it may run twice (see `TurnPieces`).
    typealias Work = @Sendable (Database) throws -> AppendResult
    /// Told the outcome after the commit (or the failure), on the writer's queue.
    typealias Completion = @Sendable (Result<AppendResult, any Error>) -> Void

    /// A device's cursor to move forward, told after the commit (nil) or the failure.
    struct CursorAdvance {
        var userID: Int64
        var device: String
        var seq: Int64
        var done: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var queue: [(work: Work, done: Completion)] = []
        var cursors: [CursorAdvance] = []
        var writing = false
    }

    private let state = Mutex(State())
    /// The most appends one transaction takes, to bound the latency of the first of them.
    let maxBatch: Int
    /// Runs at the start of every turn, in its transaction, before any of its work.
    private let beforeTurn: @Sendable (Database) throws -> Void

    init(maxBatch: Int = 512, beforeTurn: @escaping @Sendable (Database) throws -> Void = { _ in }) {
        self.maxBatch = maxBatch
        self.beforeTurn = beforeTurn
    }

    /// How many cursor advances wait for a turn (tests).
    var waitingCursors: Int { state.withLock { $0.cursors.count } }

    /// How many appends wait for a turn (tests).
    var waitingAppends: Int { state.withLock { $0.queue.count } }

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

    /// Queues a cursor advance (never backward) and waits for the commit of the turn that stores it.
    func advance(userID: Int64, device: String, to seq: Int64, pool: DatabasePool) async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            let advance = CursorAdvance(userID: userID, device: device, seq: seq, done: { error in
                if let error { waiter.resume(throwing: error) } else { waiter.resume() }
            })
            let lead = state.withLock { s in
                s.cursors.append(advance)
                if s.writing { return false }
                s.writing = true
                return true
            }
            if lead { schedule(pool) }
        }
    }

    /// Stores `cursors` in the caller's transaction: the highest seq per device, one upsert each.
    static func storeCursors(_ db: Database, _ cursors: [CursorAdvance]) throws {
        var highest: [CursorKey: Int64] = [:]
        highest.reserveCapacity(cursors.count)
        for c in cursors {
            let key = CursorKey(userID: c.userID, device: c.device)
            highest[key] = max(highest[key] ?? c.seq, c.seq)
        }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO inbox_cursor (user_id, device, acked) VALUES (?, ?, ?)
            ON CONFLICT(user_id, device) DO UPDATE SET acked = MAX(acked, excluded.acked)
            """)
        for (key, seq) in highest {
            try upsert.execute(arguments: [key.userID, key.device, seq])
        }
    }

    private struct CursorKey: Hashable {
        var userID: Int64
        var device: String
    }

    private func schedule(_ pool: DatabasePool) {
        pool.asyncWriteWithoutTransaction { db in self.turn(db, pool: pool) }
    }

    /// One turn of the writer: everything waiting (up to `maxBatch`) in one transaction, then the completions; the
    /// next turn is queued behind the writer's other work when more is waiting.
    private func turn(_ db: Database, pool: DatabasePool) {
        let (batch, cursors): ([(work: Work, done: Completion)], [CursorAdvance]) = state.withLock { s in
            // Every advance waiting: each session has at most one in flight (`AckWriter`), so they are bounded.
            let cursors = s.cursors
            s.cursors.removeAll(keepingCapacity: true)
            if s.queue.count <= maxBatch {
                defer { s.queue.removeAll(keepingCapacity: true) }
                return (s.queue, cursors)
            }
            let taken = Array(s.queue.prefix(maxBatch))
            s.queue.removeFirst(maxBatch)
            return (taken, cursors)
        }
        var outcome: Outcome
        do {
            do {
                outcome = try store(db, batch, cursors, savepointEach: false)
            } catch is TurnPieces.FailedAfterWriting {
                // Rolled back (the memo forgot the appends with it): again, each piece undone alone if it fails.
                outcome = try store(db, batch, cursors, savepointEach: true)
            }
        } catch {
            // The transaction itself failed to commit: none of the batch is stored.
            outcome = Outcome(results: batch.map { _ in .failure(error) }, cursorError: error)
        }
        for (item, result) in zip(batch, outcome.results) { item.done(result) }
        for c in cursors { c.done(outcome.cursorError) }
        let more = state.withLock { s in
            if !s.queue.isEmpty || !s.cursors.isEmpty { return true }
            s.writing = false
            return false
        }
        if more { schedule(pool) }
    }

    /// What one transaction of a turn stored: a result per piece, and the cursors' error if they failed.
    private struct Outcome {
        var results: [Result<AppendResult, any Error>]
        var cursorError: (any Error)?
    }

    /// Stores the cursors and the batch in one transaction (see `TurnPieces` for `savepointEach`).
    private func store(_ db: Database, _ batch: [(work: Work, done: Completion)], _ cursors: [CursorAdvance],
                       savepointEach: Bool) throws -> Outcome {
        var outcome = Outcome(results: [], cursorError: nil)
        try db.inTransaction {
            try beforeTurn(db)
            if !cursors.isEmpty {
                do {
                    try TurnPieces.inSavepoint(db) { try Self.storeCursors(db, cursors) }
                } catch {
                    outcome.cursorError = error
                }
            }
            outcome.results = try TurnPieces.run(db, batch, savepointEach: savepointEach) { try $0.work(db) }
            return .commit
        }
        return outcome
    }
}
