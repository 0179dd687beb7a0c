import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// What the SQLite store's writer leaves for a moment after its sends: the inbox entries of sends to many inboxes
/// (``InboxQueue``) and the history's lists (``HistoryIndexer``), written a quarter second after the appends, each in
/// transactions of its own, so that a send's transaction does not write a page per recipient, sender or group.
///
/// Both are derived from what the send's transaction made durable (the queue's rows, the messages), and the reads
/// take what is not written yet from there, so a crash loses nothing: the next start runs at once and writes what
/// the last run did not.
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
    private static let logger = Logger(label: "mynah.writer-backlog")

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

    /// Stops writing by itself, for tests that set the history index's state by hand or keep inbox entries queued.
    /// Changes to an inbox still move the queue first (``InboxQueue/materializeAll(_:memo:)``).
    func pause() {
        state.withLock { $0.paused = true }
        Self.queue.sync {}
    }

    /// Writes everything behind, a batch of each part per transaction in turn, so that sends get the writer in
    /// between and neither part waits for the other to catch up. A part that fails (a full disk) stays where it was,
    /// logged: reads find the rest where the writer put it (the queue's rows, the messages after the history's
    /// position), while changes to an inbox, which move the queue first, fail with the same error. It is tried again
    /// a second later.
    private func writeAll() {
        guard let pool else { return }
        let memo = memo
        typealias Part = (name: String, behind: (Database) throws -> Bool, batch: (Database) throws -> Bool)
        var parts: [Part] = [
            ("inbox queue", { db in try !InboxQueue.isEmpty(db) },
             { db in try InboxQueue.materialize(db, memo: memo, limit: InboxQueue.batch) }),
            ("history index", HistoryIndexer.isBehind, { db in try HistoryIndexer.index(db, limit: HistoryIndexer.batch) }),
        ]
        var failed = false
        while !parts.isEmpty {
            parts = parts.filter { part in
                do {
                    return try writeBatch(pool, part.behind, part.batch)
                } catch {
                    Self.logger.error("writing behind the writer failed; tried again in a second",
                                      metadata: ["part": "\(part.name)", "error": "\(error)"])
                    failed = true
                    return false
                }
            }
        }
        // Tried again in a second, appends or not.
        if failed { schedule(after: .seconds(1)) }
    }

    /// One batch in a transaction of its own, none when nothing is behind; true when more remain.
    private func writeBatch(_ pool: DatabasePool, _ behind: (Database) throws -> Bool,
                            _ batch: (Database) throws -> Bool) throws -> Bool {
        try pool.writeWithoutTransaction { db -> Bool in
            // Nothing new, no transaction: an empty commit would still sync the WAL and wake its observers.
            guard try behind(db) else { return false }
            var more = false
            try db.inTransaction {
                more = try batch(db)
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

    /// Calls `body` with each pair of values of stored bytes, read in place (no array of them is made).
    static func forEachPair(_ data: Data, _ body: (Int64, Int64) -> Void) {
        data.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count - 15, by: 16) {
                body(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)),
                     Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self)))
            }
        }
    }

    /// The values of stored bytes (a trailing partial value is ignored).
    static func decode(_ data: Data) -> [Int64] {
        data.withUnsafeBytes { raw in
            (0..<raw.count / 8).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
    }
}
