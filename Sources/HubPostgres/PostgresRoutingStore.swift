import Foundation
import Hub
import PostgresNIO

/// Message routing's cursors and dead letters in the cluster's database (`callback_cursor`,
/// `callback_dead_letter`), the same contract as the SQLite `callbacks.sqlite`: every node sees one cursor per
/// destination, so the node that takes the routing lease over resumes where the last one stopped, and one set of
/// dead letters, which `mynah callbacks list` and `replay` read from any node. Push receipt reports that keep
/// failing are kept here too.
public final class PostgresRoutingStore: RoutingStore {
    let database: PostgresStorage

    /// A store on `database` (migrated by `PostgresStorage.open`).
    public init(database: PostgresStorage) {
        self.database = database
    }

    /// The routing tables (run by every node at start, one at a time under the migration lock).
    public static let migrations = [
        PostgresMigration(component: "routing", name: "v1", statements: [
            """
            CREATE TABLE callback_cursor (
                destination TEXT PRIMARY KEY, msg_id BIGINT NOT NULL, event_id BIGINT NOT NULL)
            """,
            """
            CREATE TABLE callback_dead_letter (
                id BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, kind TEXT NOT NULL, url TEXT,
                first_msg_id BIGINT NOT NULL, last_msg_id BIGINT NOT NULL, count BIGINT NOT NULL,
                attempts BIGINT NOT NULL, last_error TEXT NOT NULL, replay BOOLEAN NOT NULL DEFAULT false,
                created BIGINT NOT NULL, body BYTEA NOT NULL)
            """,
            "CREATE INDEX callback_dead_letter_destination ON callback_dead_letter(destination, id)",
        ]),
    ]

    /// The cursor of `destination`, created at `head` when it has none (two nodes creating it at once: one wins).
    public func cursor(_ destination: String, startingAt head: LogPosition) async throws -> LogPosition {
        try await database.write { c in
            try await c.run("""
                INSERT INTO callback_cursor (destination, msg_id, event_id)
                VALUES (\(destination), \(head.msgID), \(head.eventID)) ON CONFLICT DO NOTHING
                """)
            guard let row = try await c.row("""
                SELECT msg_id, event_id FROM callback_cursor WHERE destination = \(destination)
                """) else { return head }
            return LogPosition(msgID: try row.get("msg_id"), eventID: try row.get("event_id"))
        }
    }

    /// Moves the cursor of `destination` forward to `position`.
    public func advance(_ destination: String, to position: LogPosition) async throws {
        try await database.read { c in
            try await c.run("""
                UPDATE callback_cursor SET msg_id = GREATEST(msg_id, \(position.msgID)),
                    event_id = GREATEST(event_id, \(position.eventID)) WHERE destination = \(destination)
                """)
        }
    }

    /// Forgets the cursor of `destination`.
    public func removeCursor(_ destination: String) async throws {
        try await database.read { c in
            try await c.run("DELETE FROM callback_cursor WHERE destination = \(destination)")
        }
    }

    /// Keeps a dead letter and moves the cursor past it, in one transaction.
    public func bury(_ destination: String, kind: RoutingDeadLetter.Kind, body: [UInt8], first: Int64, last: Int64,
                     count: Int, attempts: Int, error: String, position: LogPosition?, url: String?, now: Int64)
        async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO callback_dead_letter (destination, kind, url, first_msg_id, last_msg_id, count, attempts,
                                                  last_error, created, body)
                VALUES (\(destination), \(kind.rawValue), \(url), \(first), \(last), \(Int64(count)),
                        \(Int64(attempts)), \(error), \(now), \(ByteBuffer(bytes: body)))
                """)
            if let position {
                try await c.run("""
                    UPDATE callback_cursor SET msg_id = GREATEST(msg_id, \(position.msgID)),
                        event_id = GREATEST(event_id, \(position.eventID)) WHERE destination = \(destination)
                    """)
            }
        }
    }

    /// The dead letters, oldest first.
    public func deadLetters(destination: String?, replayOnly: Bool) async throws -> [RoutingDeadLetter] {
        try await database.read { c in
            try await c.rows("""
                SELECT * FROM callback_dead_letter
                WHERE (\(destination)::text IS NULL OR destination = \(destination)) AND (replay OR NOT \(replayOnly))
                ORDER BY id
                """).map { row in
                let body = try row.get("body", as: ByteBuffer.self)
                return RoutingDeadLetter(
                    id: try row.get("id"), destination: try row.get("destination"),
                    firstMsgID: try row.get("first_msg_id"), lastMsgID: try row.get("last_msg_id"),
                    count: Int(try row.get("count", as: Int64.self)),
                    attempts: Int(try row.get("attempts", as: Int64.self)), lastError: try row.get("last_error"),
                    replay: try row.get("replay"), body: Array(body.readableBytesView),
                    kind: RoutingDeadLetter.Kind(rawValue: try row.get("kind")) ?? .messages,
                    url: try row.get("url", as: String?.self))
            }
        }
    }

    /// How many dead letters each destination has.
    public func deadLetterCounts() async throws -> [String: Int] {
        try await database.read { c in
            var counts: [String: Int] = [:]
            for row in try await c.rows("SELECT destination, COUNT(*) AS n FROM callback_dead_letter GROUP BY destination") {
                counts[try row.get("destination", as: String.self)] = Int(try row.get("n", as: Int64.self))
            }
            return counts
        }
    }

    /// Marks dead letters for another delivery (all when `ids` is empty); returns how many.
    public func markReplay(ids: [Int64]) async throws -> Int {
        try await database.read { c in
            if ids.isEmpty {
                return try await c.run("UPDATE callback_dead_letter SET replay = true RETURNING 1")
            }
            return try await c.run("UPDATE callback_dead_letter SET replay = true WHERE id = ANY(\(ids)::bigint[]) RETURNING 1")
        }
    }

    /// Records a replay's outcome.
    public func replayed(_ id: Int64, delivered: Bool, error: String) async throws {
        try await database.read { c in
            if delivered {
                try await c.run("DELETE FROM callback_dead_letter WHERE id = \(id)")
            } else {
                try await c.run("""
                    UPDATE callback_dead_letter SET replay = false, attempts = attempts + 1, last_error = \(error)
                    WHERE id = \(id)
                    """)
            }
        }
    }
}
