import Foundation
import GRDB

/// The inbox entries of the SQLite store's sends to many inboxes (more than ``directLimit``), queued in the send's own
/// transaction as one row per message (`inbox_queue`: the message's id, the entries' expiry, and each entry's user,
/// sequence number and no-disturb flag in a BLOB), and moved into `inbox` by ``WriterBacklog`` a moment later, sorted
/// by user, many messages per transaction.
///
/// Why: an inbox entry goes to its user's B-tree page, so a send's commit wrote one 4 KB WAL frame per recipient,
/// scattered through the file: a thousand for a message to a group of 1,000. Moved in bulk, each user's page is
/// written once per run, not once per send: the fan-out benchmark delivers about 37 % more (BENCHMARKS.md).
///
/// The queue is part of the inbox: the sequence numbers are given by the writer when it queues (``WriterMemo``, which
/// reads a head from the queue when it has the user's entries and the memo forgot it), and
/// whatever reads or changes `inbox` moves the queue's entries first: the writer in its transaction
/// (``materializeAll(_:memo:)``), a reader through the writer when its snapshot holds queued rows. A send writes to
/// `inbox` directly only when the queue is empty, so every committed state holds, for each user, its first entries in
/// `inbox` and the rest in the queue.
enum InboxQueue {
    /// About how many entries are moved per transaction (whole messages: a group message's entries stay together).
    static let batch = 50_000
    /// The most entries a message writes to `inbox` directly, in the send's transaction, when the queue is empty.
    /// Queuing one or two entries saves nothing (the 1:1 and echo-bot benchmarks: the same rate), and moving them
    /// later stops the writer for a moment each quarter second (the echo bot's p99 24 → 42 ms).
    static let directLimit = 8

    /// The migration that creates the queue (an empty one: the inbox rows of earlier versions are in `inbox`).
    static func registerMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6: inbox entries behind the writer") { db in
            try db.execute(sql: """
                CREATE TABLE inbox_queue (
                    msg_id INTEGER PRIMARY KEY,
                    expires_at INTEGER,
                    entries BLOB NOT NULL
                );
                """)
        }
    }

    /// Queues the inbox entries of message `msgID`, in the caller's transaction; `quiet` are the users whose entry
    /// is marked no-disturb.
    static func enqueue(_ db: Database, msgID: Int64, entries: [(userID: Int64, seq: Int64)], quiet: Set<Int64>,
                        expiresAt: Int64?) throws {
        var values: [Int64] = []
        values.reserveCapacity(entries.count * 2)
        for entry in entries {
            // The sequence number and the no-disturb flag share one value: seq << 1 | quiet.
            values.append(entry.userID)
            values.append(entry.seq << 1 | (quiet.contains(entry.userID) ? 1 : 0))
        }
        try db.cachedStatement(sql: "INSERT INTO inbox_queue (msg_id, expires_at, entries) VALUES (?, ?, ?)")
            .execute(arguments: [msgID, expiresAt, Int64Blob.encode(values)])
    }

    /// The highest queued sequence number of each user with entries in the queue (one read of the whole queue).
    static func heads(_ db: Database) throws -> [Int64: Int64] {
        var heads: [Int64: Int64] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT entries FROM inbox_queue")
        while let row = try rows.next() {
            let values = Int64Blob.decode(row[0])
            for i in stride(from: 0, to: values.count - 1, by: 2) {
                heads[values[i]] = max(heads[values[i]] ?? 0, values[i + 1] >> 1)
            }
        }
        return heads
    }

    /// Whether the queue holds no entry.
    static func isEmpty(_ db: Database) throws -> Bool {
        try !(Bool.fetchOne(try db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM inbox_queue)")) ?? false)
    }

    /// Moves every queued entry into `inbox`, in the caller's transaction on the writer; does nothing (one read)
    /// when the queue is empty. Whatever reads or changes `inbox` on the writer calls it first.
    static func materializeAll(_ db: Database, memo: WriterMemo) throws {
        while try materialize(db, memo: memo, limit: .max) {}
    }

    /// Moves the queued entries of the oldest messages, about `limit` entries, into `inbox`, sorted by user and
    /// sequence number, and deletes their rows from the queue, in the caller's transaction; true when more remain.
    static func materialize(_ db: Database, memo: WriterMemo, limit: Int) throws -> Bool {
        var rows: [(userID: Int64, value: Int64, msgID: Int64, expiresAt: Int64?)] = []
        var last: Int64 = 0
        do {
            // Not a cached statement: the read may stop before its end, and the statement is finalized with the
            // cursor, before the queue's rows are deleted.
            let cursor = try Row.fetchCursor(db, sql: "SELECT msg_id, expires_at, entries FROM inbox_queue ORDER BY msg_id")
            while rows.count < limit, let row = try cursor.next() {
                let msgID: Int64 = row[0], expiresAt: Int64? = row[1]
                let values = Int64Blob.decode(row[2])
                for i in stride(from: 0, to: values.count - 1, by: 2) {
                    rows.append((values[i], values[i + 1], msgID, expiresAt))
                }
                last = msgID
            }
        }
        guard last > 0 else { return false }
        // One descent per user's run of entries instead of one per message: the B-tree is keyed by (user_id, seq).
        rows.sort { ($0.userID, $0.value) < ($1.userID, $1.value) }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO inbox (user_id, seq, msg_id, expires_at, quiet) VALUES (?, ?, ?, ?, ?)")
        // The entries' sequence numbers are the memo's already: the inserts must not make it forget the heads.
        try memo.appending {
            for r in rows {
                try insert.execute(arguments: [r.userID, r.value >> 1, r.msgID, r.expiresAt, r.value & 1 == 1])
            }
        }
        try db.cachedStatement(sql: "DELETE FROM inbox_queue WHERE msg_id <= ?").execute(arguments: [last])
        return try !isEmpty(db)
    }
}
