import Foundation
import GRDB

/// The inbox entries of the SQLite store's sends to many inboxes (more than ``directLimit``), queued in the send's own
/// transaction as one row per message (`inbox_queue`: the message's id, the entries' expiry, and each entry's user,
/// sequence number and no-disturb flag in a BLOB), and moved into `inbox` by ``WriterBacklog`` a moment later, sorted
/// by user, many messages per transaction.
///
/// Why: an inbox entry goes to its user's B-tree page, so a send's commit wrote one 4 KB WAL frame per recipient,
/// scattered through the file: a thousand for a message to a group of 1,000. Moved in bulk, each user's page is
/// written once per run, not once per send: the fan-out benchmark delivers 28–38 % more (BENCHMARKS.md).
///
/// The queue is part of the inbox: the sequence numbers are given by the writer when it queues (``WriterMemo``, which
/// reads a head from the queue when it has the user's entries and the memo forgot it); a read of an inbox reads the
/// user's queued entries after its rows in `inbox`, in the same snapshot (``entries(_:userID:after:)``), and never
/// writes; whatever changes `inbox` otherwise (an event, an expiry, a retraction, a deletion, the expiry sweep) moves
/// the queue first, in its transaction (``materializeAll(_:memo:)``). A send writes to `inbox` directly only when the
/// queue is empty, so every committed state holds, for each user, its first entries in `inbox` and the rest in the
/// queue.
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
            values.append(entry.userID)
            values.append(Entry.pack(seq: entry.seq, quiet: quiet.contains(entry.userID)))
        }
        try db.cachedStatement(sql: "INSERT INTO inbox_queue (msg_id, expires_at, entries) VALUES (?, ?, ?)")
            .execute(arguments: [msgID, expiresAt, Int64Blob.encode(values)])
    }

    /// One queued entry.
    struct Entry {
        var userID: Int64
        var seq: Int64
        var quiet: Bool
        var msgID: Int64
        var expiresAt: Int64?

        /// The entry of a stored pair (`userID`, `packed`) of the queue row of `msgID`.
        init(userID: Int64, packed: Int64, msgID: Int64, expiresAt: Int64?) {
            self.userID = userID
            seq = packed >> 1
            quiet = packed & 1 == 1
            self.msgID = msgID
            self.expiresAt = expiresAt
        }

        /// How the sequence number and the no-disturb flag are stored, in one value: seq << 1 | quiet.
        static func pack(seq: Int64, quiet: Bool) -> Int64 {
            seq << 1 | (quiet ? 1 : 0)
        }
    }

    /// The entries of one queue row (`msg_id`, `expires_at`, `entries`), in the order they were queued.
    static func entries(ofRow row: Row) -> [Entry] {
        let msgID: Int64 = row[0], expiresAt: Int64? = row[1]
        var entries: [Entry] = []
        Int64Blob.forEachPair(row[2]) { userID, packed in
            entries.append(Entry(userID: userID, packed: packed, msgID: msgID, expiresAt: expiresAt))
        }
        return entries
    }

    /// The queued entries of `userID` after `after`, in order (the queue's rows in `msg_id` order, one user's
    /// sequence numbers rising with them). Reads the whole queue: a quarter second of sends while the backlog keeps
    /// up; the pairs are scanned in place and an entry made only for the user's.
    static func entries(_ db: Database, userID: Int64, after: Int64) throws -> [Entry] {
        var found: [Entry] = []
        let rows = try Row.fetchCursor(
            try db.cachedStatement(sql: "SELECT msg_id, expires_at, entries FROM inbox_queue ORDER BY msg_id"))
        while let row = try rows.next() {
            let msgID: Int64 = row[0], expiresAt: Int64? = row[1]
            Int64Blob.forEachPair(row[2]) { user, packed in
                guard user == userID else { return }
                let entry = Entry(userID: user, packed: packed, msgID: msgID, expiresAt: expiresAt)
                if entry.seq > after { found.append(entry) }
            }
        }
        return found
    }

    /// The queued entries of message `msgID` (none once moved).
    static func entries(_ db: Database, msgID: Int64) throws -> [Entry] {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT msg_id, expires_at, entries FROM inbox_queue WHERE msg_id = ?"),
                         arguments: [msgID]).map(entries(ofRow:)) ?? []
    }

    /// The highest queued sequence number of each user with entries in the queue (one read of the whole queue).
    static func heads(_ db: Database) throws -> [Int64: Int64] {
        var heads: [Int64: Int64] = [:]
        let rows = try Row.fetchCursor(try db.cachedStatement(sql: "SELECT msg_id, expires_at, entries FROM inbox_queue"))
        while let row = try rows.next() {
            for entry in entries(ofRow: row) { heads[entry.userID] = max(heads[entry.userID] ?? 0, entry.seq) }
        }
        return heads
    }

    /// Whether the queue holds no entry.
    static func isEmpty(_ db: Database) throws -> Bool {
        try !(Bool.fetchOne(try db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM inbox_queue)")) ?? false)
    }

    /// Moves every queued entry into `inbox`, in the caller's transaction on the writer; does nothing (one read)
    /// when the queue is empty. Whatever changes `inbox` other than a send or a move calls it first.
    static func materializeAll(_ db: Database, memo: WriterMemo) throws {
        while try materialize(db, memo: memo, limit: .max) {}
    }

    /// Moves the queued entries of the oldest messages, about `limit` entries, into `inbox`, sorted by user and
    /// sequence number, and deletes their rows from the queue, in the caller's transaction; true when more remain.
    static func materialize(_ db: Database, memo: WriterMemo, limit: Int) throws -> Bool {
        var moving: [Entry] = []
        var last: Int64 = 0
        do {
            // Not a cached statement: the read may stop before its end, and the statement is finalized with the
            // cursor rather than left in the cache half read.
            let rows = try Row.fetchCursor(db, sql: "SELECT msg_id, expires_at, entries FROM inbox_queue ORDER BY msg_id")
            while moving.count < limit, let row = try rows.next() {
                moving += entries(ofRow: row)
                last = row[0]
            }
        }
        guard last > 0 else { return false }
        // One descent per user's run of entries instead of one per message: the B-tree is keyed by (user_id, seq).
        moving.sort { ($0.userID, $0.seq) < ($1.userID, $1.seq) }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO inbox (user_id, seq, msg_id, expires_at, quiet) VALUES (?, ?, ?, ?, ?)")
        // The entries' sequence numbers are the memo's already: the inserts must not make it forget the heads.
        try memo.appending {
            for e in moving {
                try insert.execute(arguments: [e.userID, e.seq, e.msgID, e.expiresAt, e.quiet])
            }
        }
        try db.cachedStatement(sql: "DELETE FROM inbox_queue WHERE msg_id <= ?").execute(arguments: [last])
        return try !isEmpty(db)
    }
}
