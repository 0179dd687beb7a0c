import Dispatch
import Foundation
import GRDB
import Synchronization

/// What the SQLite store's writer leaves for a moment after its sends: the inbox entries queued by the appends
/// (``InboxQueue``) and the history's lists (``HistoryIndexer``), written together a quarter second after the appends,
/// in transactions of their own, so that a send's transaction touches only the pages at the end of the log.
///
/// Both are derived from what the send's transaction made durable (the queue's rows, the messages), so a crash loses
/// nothing: the next start runs at once and writes what the last run did not.
final class WriterBacklog: Sendable {
    /// How long after an append the backlog is written: appends in between share one transaction.
    static let delay: DispatchTimeInterval = .milliseconds(250)

    private struct State {
        var scheduled = false
        var paused = false
    }

    private weak let pool: DatabasePool?
    private let memo: WriterMemo
    private let state = Mutex(State())
    private static let queue = DispatchQueue(label: "mynah.writer-backlog")

    /// The backlog of `pool`, whose writer remembers inbox heads in `memo`; it writes what an earlier run left (a
    /// crash) at once.
    init(pool: DatabasePool, memo: WriterMemo) {
        self.pool = pool
        self.memo = memo
        schedule(after: .milliseconds(0))
    }

    /// Messages were appended: write their backlog shortly (one run for everything appended meanwhile).
    func noteAppended() {
        schedule(after: Self.delay)
    }

    private func schedule(after delay: DispatchTimeInterval) {
        let now = state.withLock { s in
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        guard now else { return }
        Self.queue.asyncAfter(deadline: .now() + delay) { [self] in run() }
    }

    private func run() {
        let paused = state.withLock { s in
            s.scheduled = false
            return s.paused
        }
        if !paused { writeAll() }
    }

    /// Writes the whole backlog now, on the backlog's queue, and returns when it is written (tests).
    func runNow() {
        Self.queue.sync { writeAll() }
    }

    /// Stops writing by itself, for tests that set the history index's state by hand. Inbox reads still move the
    /// queue's entries into the inbox when they need them (``SQLiteHubStore/inbox(userID:after:limit:now:)``).
    func pause() {
        state.withLock { $0.paused = true }
        Self.queue.sync {}
    }

    /// Writes everything behind, a batch per transaction so that sends get the writer in between. A failure (a full
    /// disk) leaves the backlog where it was: reads find the rest where the writer put it (the queue's rows, the
    /// messages after the history's position). It is tried again a second later.
    private func writeAll() {
        guard let pool else { return }
        while true {
            let more: Bool
            do {
                more = try writeBatch(pool)
            } catch {
                // Tried again in a second, appends or not.
                schedule(after: .seconds(1))
                return
            }
            if !more { return }
        }
    }

    /// One batch of each in a transaction of its own, none when nothing is behind; true when more remain.
    private func writeBatch(_ pool: DatabasePool) throws -> Bool {
        let memo = memo
        return try pool.writeWithoutTransaction { db -> Bool in
            // Nothing new, no transaction: an empty commit would still sync the WAL and wake its observers.
            let inbox = try !InboxQueue.isEmpty(db), history = try HistoryIndexer.isBehind(db)
            guard inbox || history else { return false }
            var more = false
            try db.inTransaction {
                if inbox { more = try InboxQueue.materialize(db, memo: memo, limit: InboxQueue.batch) }
                if history { more = try HistoryIndexer.index(db, limit: HistoryIndexer.batch) || more }
                return .commit
            }
            return more
        }
    }
}

/// A list of 64-bit integers as the backlog stores it in a BLOB: each 8 bytes, little-endian, in the list's order.
enum Int64Blob {
    /// The bytes of `values`.
    static func encode(_ values: [Int64]) -> Data {
        var data = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The values of stored bytes (a trailing partial value is ignored).
    static func decode(_ data: Data) -> [Int64] {
        data.withUnsafeBytes { raw in
            (0..<raw.count / 8).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
    }
}
