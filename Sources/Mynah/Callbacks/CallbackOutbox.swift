import Foundation
import GRDB
import Hub

/// The durable state of message routing, in `<data_dir>/callbacks.sqlite` (apart from the hub's file, so the send
/// path never waits for it): a cursor per destination into the hub's message log, the batches kept as dead letters,
/// and the receipt callbacks of bridged pushes waiting to go out.
///
/// Nothing is written inside the hub's send transaction: the message table is already a durable, ordered log, and a
/// destination's cursor moves only after its receiver answered 200, so a crash at any point repeats a batch at most.
final class CallbackOutbox: RoutingStore {
    /// A batch set aside after too many failures (`mynah callbacks list` shows them).
    typealias DeadLetter = RoutingDeadLetter

    let pool: DatabasePool

    /// Opens (creating if needed) `<dataDirectory>/callbacks.sqlite`.
    init(dataDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        pool = try DurableDatabase.open(path: Self.path(dataDirectory: dataDirectory), migrator: Self.migrator)
    }

    /// The file under `dataDirectory`.
    static func path(dataDirectory: String) -> String {
        (dataDirectory as NSString).appendingPathComponent("callbacks.sqlite")
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE cursor (
                    destination TEXT PRIMARY KEY NOT NULL,
                    msg_id INTEGER NOT NULL
                );
                CREATE TABLE dead_letter (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    destination TEXT NOT NULL,
                    first_msg_id INTEGER NOT NULL,
                    last_msg_id INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    attempts INTEGER NOT NULL,
                    last_error TEXT NOT NULL,
                    replay INTEGER NOT NULL DEFAULT 0,
                    created INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE INDEX dead_letter_destination ON dead_letter(destination, id);
                CREATE TABLE jmessage_inbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    bot TEXT NOT NULL,
                    msgid INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    UNIQUE (bot, msgid)
                );
                CREATE TABLE jmessage_cursor (
                    bot TEXT PRIMARY KEY NOT NULL,
                    acked INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration("v2: events and receipts") { db in
            // NULL: the destination predates the event log; it starts at the log's end.
            try db.execute(sql: """
                ALTER TABLE cursor ADD COLUMN event_id INTEGER;
                ALTER TABLE dead_letter ADD COLUMN kind TEXT NOT NULL DEFAULT 'messages';
                ALTER TABLE dead_letter ADD COLUMN url TEXT;
                """)
        }
        return m
    }

    // MARK: Destinations

    /// The cursor of `destination`, created at `head` (the log's end: a new destination starts with what comes
    /// next, not with the history) when it has none.
    func cursor(_ destination: String, startingAt head: LogPosition) async throws -> LogPosition {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO cursor (destination, msg_id, event_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           arguments: [destination, head.msgID, head.eventID])
            try db.execute(sql: "UPDATE cursor SET event_id = ? WHERE destination = ? AND event_id IS NULL",
                           arguments: [head.eventID, destination])
            guard let row = try Row.fetchOne(db, sql: "SELECT msg_id, event_id FROM cursor WHERE destination = ?",
                                             arguments: [destination]) else { return head }
            return LogPosition(msgID: row["msg_id"], eventID: row["event_id"])
        }
    }

    /// Moves the cursor of `destination` forward to `position`.
    func advance(_ destination: String, to position: LogPosition) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE cursor SET msg_id = MAX(msg_id, ?), event_id = MAX(event_id, ?) WHERE destination = ?",
                           arguments: [position.msgID, position.eventID, destination])
        }
    }

    /// Forgets the cursor of a destination that is no longer configured (its dead letters stay): added again, it
    /// starts at the log's end like any new one.
    func removeCursor(_ destination: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM cursor WHERE destination = ?", arguments: [destination])
        }
    }

    /// Keeps a batch as a dead letter and moves the cursor past it (to `position`), in one transaction. `first` and
    /// `last` are msgids, or event ids for a batch of events.
    func bury(_ destination: String, kind: DeadLetter.Kind, body: [UInt8], first: Int64, last: Int64,
              count: Int, attempts: Int, error: String, position: LogPosition?, url: String?, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO dead_letter (destination, kind, url, first_msg_id, last_msg_id, count, attempts, last_error,
                                             created, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [destination, kind.rawValue, url, first, last, count, attempts, error, now, Data(body)])
            if let position {
                try db.execute(
                    sql: "UPDATE cursor SET msg_id = MAX(msg_id, ?), event_id = MAX(event_id, ?) WHERE destination = ?",
                    arguments: [position.msgID, position.eventID, destination])
            }
        }
    }

    // MARK: Dead letters

    /// The dead letters, oldest first; of one destination when `destination` is set, only those marked for replay
    /// with `replayOnly`.
    func deadLetters(destination: String?, replayOnly: Bool) async throws -> [DeadLetter] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM dead_letter WHERE (? IS NULL OR destination = ?) AND replay >= ? ORDER BY id",
                arguments: [destination, destination, replayOnly ? 1 : 0])
            return rows.map { row in
                DeadLetter(id: row["id"], destination: row["destination"], firstMsgID: row["first_msg_id"],
                           lastMsgID: row["last_msg_id"], count: row["count"], attempts: row["attempts"],
                           lastError: row["last_error"], replay: row["replay"], body: [UInt8](row["body"] as Data),
                           kind: DeadLetter.Kind(rawValue: row["kind"]) ?? .messages, url: row["url"])
            }
        }
    }

    /// How many dead letters each destination has.
    func deadLetterCounts() async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT destination, COUNT(*) AS n FROM dead_letter GROUP BY destination") {
                counts[row["destination"]] = row["n"]
            }
            return counts
        }
    }

    /// Marks dead letters for another delivery (all when `ids` is empty); returns how many. The running daemon
    /// sends them before new messages of their destination.
    func markReplay(ids: [Int64]) async throws -> Int {
        try await pool.write { db in
            if ids.isEmpty {
                try db.execute(sql: "UPDATE dead_letter SET replay = 1")
            } else {
                try db.execute(sql: "UPDATE dead_letter SET replay = 1 WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                               arguments: StatementArguments(ids))
            }
            return db.changesCount
        }
    }

    /// Records the outcome of a replay: delivered (the dead letter is gone) or failed again (it stays, unmarked).
    func replayed(_ id: Int64, delivered: Bool, error: String) async throws {
        try await pool.write { db in
            if delivered {
                try db.execute(sql: "DELETE FROM dead_letter WHERE id = ?", arguments: [id])
            } else {
                try db.execute(sql: "UPDATE dead_letter SET replay = 0, attempts = attempts + 1, last_error = ? WHERE id = ?",
                               arguments: [error, id])
            }
        }
    }
}
