import Hub
import IMProtocol
import NIOCore
import PostgresNIO

/// The combined log of messages and gateway events on PostgreSQL, in commit order, as message routing reads it
/// (the same contract as `SQLiteHubStore`'s).
///
/// PostgreSQL assigns a `BIGSERIAL` before its transaction commits, so ids alone do not give the commit order. Here
/// they do, because every transaction that writes to either log takes the one `message_clock` row first
/// (`FOR UPDATE`, held to its commit) and only then draws its ids: a transaction holding a higher id started
/// drawing after the one with the lower id committed (a lock is released only once its transaction is visible).
/// So a reader that sees id N misses no lower id that could still commit: a cursor over ids misses nothing, as on
/// SQLite's single writer. An event records the highest message id committed before it (`after_msg_id`, read under
/// the same lock), and the two logs merge by it. Both reads of one scan run in one snapshot.
extension PostgresHubStore: MessageLogStore {
    /// Writes `event` to the event log inside the transaction that stores it in `recipients`' inboxes, which holds
    /// the `message_clock` lock.
    static func logEvent(_ c: PostgresConnection, _ event: ChatEvent, recipients: [Int64], blob: ByteBuffer)
        async throws {
        var targetType = TargetType.single
        var targetID = ""
        var appKeys: Set<String> = [event.appKey]
        if let gid = event.gid {
            targetType = .group
            targetID = String(gid)
        } else if let msgID = event.msgID {
            if let row = try await c.row(
                "SELECT target_type, target_id, from_appkey FROM message WHERE msg_id = \(msgID)") {
                targetType = TargetType(rawValue: try row.get("target_type", as: String.self)) ?? .single
                targetID = try row.get("target_id")
                appKeys.insert(try row.get("from_appkey"))
            }
        } else if let first = recipients.first {
            // A friend event goes to one account: the one whose friends changed.
            targetID = try await c.value(String.self, "SELECT username FROM account WHERE id = \(first)") ?? ""
        }
        let after = try await c.value(Int64.self, "SELECT MAX(msg_id) FROM message") ?? 0
        let keys = appKeys.sorted().joined(separator: " ")
        try await c.run("""
            INSERT INTO event_log (after_msg_id, target_type, target_id, appkeys, event)
            VALUES (\(after), \(targetType.rawValue), \(targetID), \(keys), \(blob))
            """)
    }

    /// Up to `limit` messages with an id above `msgID`, ascending by id.
    public func messages(after msgID: Int64, limit: Int) async throws -> [StoredMessage] {
        try await database.read { c in
            try await c.rows("""
                SELECT msg_id, msg_ctime, body FROM message WHERE msg_id > \(msgID) ORDER BY msg_id LIMIT \(Int64(limit))
                """).map(Self.stored(from:))
        }
    }

    /// The highest message id stored so far.
    public func lastMessageID() async throws -> Int64 {
        try await database.read { c in try await c.value(Int64.self, "SELECT MAX(msg_id) FROM message") ?? 0 }
    }

    /// Up to `limit` messages and `limit` events after `position`, merged in commit order and cut where either read
    /// stopped at its limit, so that nothing before the last item returned is missing. Read in one snapshot.
    public func log(after position: LogPosition, limit: Int) async throws -> LogScan {
        let (messages, events) = try await database.read { c in
            try await c.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                let messages = try await c.rows("""
                    SELECT msg_id, msg_ctime, body FROM message WHERE msg_id > \(position.msgID)
                    ORDER BY msg_id LIMIT \(Int64(limit))
                    """).map(Self.stored(from:))
                let events = try await c.rows("""
                    SELECT * FROM event_log WHERE id > \(position.eventID) ORDER BY id LIMIT \(Int64(limit))
                    """).map { row in
                    LoggedEvent(id: try row.get("id"), afterMsgID: try row.get("after_msg_id"),
                                targetType: TargetType(rawValue: try row.get("target_type", as: String.self)) ?? .single,
                                targetID: try row.get("target_id"),
                                appKeys: Set(try row.get("appkeys", as: String.self).split(separator: " ").map(String.init)),
                                event: try ChatEvent(json: try JSONValue.parse(
                                    try row.get("event", as: ByteBuffer.self).readableBytesView)))
                }
                try await c.run("COMMIT")
                return (messages, events)
            } catch {
                _ = try? await c.run("ROLLBACK")
                throw error
            }
        }
        return LogScan.merge(messages: messages, events: events, limit: limit)
    }

    /// The end of the combined log: the highest message and event ids so far.
    public func logHead() async throws -> LogPosition {
        try await database.read { c in
            let row = try await c.row("""
                SELECT (SELECT MAX(msg_id) FROM message) AS m, (SELECT MAX(id) FROM event_log) AS e
                """)
            return LogPosition(msgID: try row?.get("m", as: Int64?.self) ?? 0, eventID: try row?.get("e", as: Int64?.self) ?? 0)
        }
    }
}
