import GRDB
import IMProtocol

/// Reading the message table as a log, in `msg_id` order: what message routing (callbacks) follows with a cursor of
/// its own instead of writing anything inside the send transaction.
///
/// Ids are assigned by SQLite's single writer inside the transaction that stores them (group commit included), and
/// a reader sees whole committed transactions only, so a message with a smaller id than one already read can never
/// appear later: a cursor over `msg_id` misses nothing.
public protocol MessageLogStore: Sendable {
    /// Up to `limit` messages with an id above `msgID`, ascending by id; retracted ones included (they were sent).
    func messages(after msgID: Int64, limit: Int) async throws -> [StoredMessage]
    /// The highest message id stored so far (0 when none).
    func lastMessageID() async throws -> Int64
    /// Messages and gateway events after `position`, in commit order (see ``LoggedEvent``).
    func log(after position: LogPosition, limit: Int) async throws -> LogScan
    /// The end of the combined log of messages and events.
    func logHead() async throws -> LogPosition
}

extension SQLiteHubStore: MessageLogStore {
    /// Up to `limit` messages with an id above `msgID`, ascending by id.
    public func messages(after msgID: Int64, limit: Int) async throws -> [StoredMessage] {
        try await pool.read { db in
            try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT msg_id, msg_ctime, body FROM message WHERE msg_id > ? ORDER BY msg_id LIMIT ?"),
                arguments: [msgID, limit]
            ).map(Self.stored(from:))
        }
    }

    /// The highest message id stored so far.
    public func lastMessageID() async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(msg_id) FROM message") ?? 0
        }
    }
}
