import Foundation
import GRDB
import IMProtocol

/// One gateway event in the hub's log, as message routing reads it: the event, where it stands among the messages
/// (`afterMsgID`) and the conversation it belongs to.
public struct LoggedEvent: Sendable, Equatable {
    /// Its position in the event log; strictly increasing in commit order.
    public var id: Int64
    /// The highest message id committed before it: it happened after that message and before the next one.
    public var afterMsgID: Int64
    /// The conversation: `group` (target the gid) for group events and retractions in a group; `single` for friend
    /// events (target the account whose friends changed) and retractions of single messages (the message's target).
    public var targetType: TargetType
    /// The gid or username of the conversation.
    public var targetID: String
    /// The apps the event belongs to: the event's own, and for a retraction the sender's app as well.
    public var appKeys: Set<String>
    /// The event as the gateway delivers it.
    public var event: ChatEvent

    /// Creates a logged event.
    public init(id: Int64, afterMsgID: Int64, targetType: TargetType, targetID: String, appKeys: Set<String>,
                event: ChatEvent) {
        self.id = id
        self.afterMsgID = afterMsgID
        self.targetType = targetType
        self.targetID = targetID
        self.appKeys = appKeys
        self.event = event
    }
}

/// A place in the hub's combined log of messages and events: everything up to `msgID` and `eventID` was read.
public struct LogPosition: Sendable, Hashable, CustomStringConvertible {
    /// The last message id read.
    public var msgID: Int64
    /// The last event id read.
    public var eventID: Int64

    /// Creates a position.
    public init(msgID: Int64, eventID: Int64) {
        self.msgID = msgID
        self.eventID = eventID
    }

    /// `msgID/eventID`.
    public var description: String { "\(msgID)/\(eventID)" }
}

/// One entry of the combined log.
public enum LogItem: Sendable, Equatable {
    /// A message.
    case message(StoredMessage)
    /// A gateway event.
    case event(LoggedEvent)

    /// The position just after this item, given the position just before it.
    public func position(after previous: LogPosition) -> LogPosition {
        switch self {
        case .message(let m): LogPosition(msgID: max(previous.msgID, m.msgID), eventID: previous.eventID)
        case .event(let e): LogPosition(msgID: previous.msgID, eventID: max(previous.eventID, e.id))
        }
    }
}

/// A read of the combined log: items in commit order, and whether the read reached the log's end.
public struct LogScan: Sendable {
    /// The items, in the order they were committed.
    public var items: [LogItem]
    /// False when more of the log was already there (the read stopped at its limit).
    public var complete: Bool

    /// Creates a scan.
    public init(items: [LogItem], complete: Bool) {
        self.items = items
        self.complete = complete
    }

    /// Merges up to `limit` messages and `limit` events read in one snapshot (each ascending by id) in commit order:
    /// an event goes before the first message with an id above its `afterMsgID`. Cut where either read stopped at
    /// its limit, so that nothing before the last item returned is missing.
    public static func merge(messages: [StoredMessage], events: [LoggedEvent], limit: Int) -> LogScan {
        // Past the last message read there may be unread messages; past the last event read, unread events.
        let messageLimit = messages.count == limit ? messages.last?.msgID : nil
        let eventLimit = events.count == limit ? events.last?.afterMsgID : nil
        var items: [LogItem] = []
        items.reserveCapacity(messages.count + events.count)
        var e = events.startIndex
        for m in messages {
            if let eventLimit, m.msgID > eventLimit { break }
            while e < events.endIndex && events[e].afterMsgID < m.msgID {
                items.append(.event(events[e]))
                e += 1
            }
            items.append(.message(m))
        }
        while e < events.endIndex {
            if let messageLimit, events[e].afterMsgID > messageLimit { break }
            items.append(.event(events[e]))
            e += 1
        }
        return LogScan(items: items, complete: messageLimit == nil && eventLimit == nil)
    }
}

/// The gateway events of the hub in commit order, next to the message log, for message routing with `events:`.
///
/// Each event the hub stores in inboxes is also written, in the same transaction, to `event_log` with the highest
/// message id committed so far. SQLite has a single writer, so a message with a higher id commits later, and merging
/// the two logs by (`msg_id`, then events with `after_msg_id` equal to it) gives the order of the commits.
extension SQLiteHubStore {
    static func registerEventLogMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("routing: event log") { db in
            try db.execute(sql: """
                CREATE TABLE event_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    after_msg_id INTEGER NOT NULL,
                    target_type TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    appkeys TEXT NOT NULL,
                    event BLOB NOT NULL
                );
                """)
        }
    }

    /// Writes `event` to the event log inside the transaction that stores it in `recipients`' inboxes.
    static func logEvent(_ db: Database, _ event: ChatEvent, recipients: [Int64], blob: Data) throws {
        var targetType = TargetType.single
        var targetID = ""
        var appKeys: Set<String> = [event.appKey]
        if let gid = event.gid {
            targetType = .group
            targetID = String(gid)
        } else if let msgID = event.msgID {
            if let row = try Row.fetchOne(db, sql: "SELECT target_type, target_id, from_appkey FROM message WHERE msg_id = ?",
                                          arguments: [msgID]) {
                targetType = TargetType(rawValue: row["target_type"]) ?? .single
                targetID = row["target_id"]
                appKeys.insert(row["from_appkey"])
            }
        } else if let first = recipients.first {
            // A friend event goes to one account: the one whose friends changed.
            targetID = try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [first]) ?? ""
        }
        let after = try Int64.fetchOne(db, sql: "SELECT MAX(msg_id) FROM message") ?? 0
        try db.execute(
            sql: "INSERT INTO event_log (after_msg_id, target_type, target_id, appkeys, event) VALUES (?, ?, ?, ?, ?)",
            arguments: [after, targetType.rawValue, targetID, appKeys.sorted().joined(separator: " "), blob])
    }

    /// Up to `limit` messages and `limit` events after `position`, merged in commit order and cut where either read
    /// stopped at its limit, so that nothing before the last item returned is missing. Read in one snapshot.
    public func log(after position: LogPosition, limit: Int) async throws -> LogScan {
        try await pool.read { db in
            let messages = try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT msg_id, msg_ctime, body FROM message WHERE msg_id > ? ORDER BY msg_id LIMIT ?"),
                arguments: [position.msgID, limit]
            ).map(Self.stored(from:))
            let events = try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT * FROM event_log WHERE id > ? ORDER BY id LIMIT ?"),
                arguments: [position.eventID, limit]
            ).map { row in
                LoggedEvent(id: row["id"], afterMsgID: row["after_msg_id"],
                            targetType: TargetType(rawValue: row["target_type"]) ?? .single, targetID: row["target_id"],
                            appKeys: Set((row["appkeys"] as String).split(separator: " ").map(String.init)),
                            event: try ChatEvent(json: try JSONValue.parse(row["event"] as Data)))
            }
            return LogScan.merge(messages: messages, events: events, limit: limit)
        }
    }

    /// The end of the combined log: the highest message and event ids so far.
    public func logHead() async throws -> LogPosition {
        try await pool.read { db in
            LogPosition(msgID: try Int64.fetchOne(db, sql: "SELECT MAX(msg_id) FROM message") ?? 0,
                        eventID: try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM event_log") ?? 0)
        }
    }
}
