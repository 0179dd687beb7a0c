import Foundation
import GRDB
import IMProtocol

/// The SQLite store's history index, kept behind the writer: lists of the messages of each sender, single-chat
/// recipient, group, chatroom and app (`history_key`), written by ``WriterBacklog`` in a transaction of its own a
/// moment after the messages, one row per key and batch, instead of two more indexes of `message` in every send's transaction.
///
/// Why: those indexes (`message_from`, `message_target`) put each 1:1 message into two more B-tree pages, one per
/// sender and one per recipient, scattered through the file, so every send's commit wrote about three 4 KB WAL frames
/// where one (the recipient's inbox) is needed. A first version kept a row per key and message here; writing those
/// took a fifth of the daemon's CPU in the 1:1 benchmark (`perf`), as much as the indexes it replaced. A list per key
/// and batch is one insert per key every quarter second.
///
/// History never depends on it: `history_position` says through which `msg_id` the keys are written (in the same
/// transaction as the keys), and ``SQLiteHubStore/history(_:)`` reads the messages after it from `message` itself. A
/// crash loses nothing: the messages are the truth, and the next run indexes what the last one did not.
enum HistoryIndexer {
    /// The most messages indexed per transaction.
    static let batch = 20_000

    /// Whether messages were appended after the position (a cheap check, so an idle run opens no transaction).
    static func isBehind(_ db: Database) throws -> Bool {
        try Int64.fetchOne(db, sql: "SELECT MAX(msg_id) FROM message") ?? 0 > position(db)
    }

    /// Writes the keys of up to `limit` messages after the position, and the new position; true when more remain.
    /// Each key of the batch gets one row: the ids of its messages, ascending.
    static func index(_ db: Database, limit: Int) throws -> Bool {
        let position = try Self.position(db)
        var lists: [Key: [Int64]] = [:]
        var last = position
        var count = 0
        let rows = try Row.fetchCursor(
            db, sql: """
                SELECT msg_id, from_appkey, from_id, target_type, target_appkey, target_id FROM message
                WHERE msg_id > ? ORDER BY msg_id LIMIT ?
                """, arguments: [position, limit])
        while let row = try rows.next() {
            let msgID: Int64 = row[0]
            let fromAppKey: String = row[1], targetAppKey: String = row[4]
            var keys = [Key.user(appKey: fromAppKey, name: row[2]),
                        Key.target(type: row[3], appKey: targetAppKey, id: row[5]),
                        Key.app(fromAppKey)]
            if targetAppKey != fromAppKey { keys.append(.app(targetAppKey)) }
            for (i, key) in keys.enumerated() where !keys[..<i].contains(key) {
                lists[key, default: []].append(msgID)
            }
            last = msgID
            count += 1
        }
        guard count > 0 else { return false }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO history_key (kind, appkey, name, last_msg_id, ids) VALUES (?, ?, ?, ?, ?)")
        for (key, ids) in lists.sorted(by: { $0.key < $1.key }) {
            try insert.execute(arguments: [key.kind, key.appKey, key.name, ids.last!, Int64Blob.encode(ids)])
        }
        try db.execute(sql: "UPDATE history_position SET msg_id = ? WHERE id = 1", arguments: [last])
        return count == limit
    }

    /// Through which `msg_id` the keys are written; the messages after it are found in `message` itself.
    static func position(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT msg_id FROM history_position WHERE id = 1") ?? 0
    }

    /// What a `history_key` row is the list of: a user ("u"), a group ("g"), a chatroom ("c") or an app ("a", no
    /// name), in an app.
    struct Key: Hashable, Comparable {
        var kind: String
        var appKey: String
        var name: String

        /// The messages a user of `appKey` sent, and those it got in single chats.
        static func user(appKey: String, name: String) -> Key { Key(kind: "u", appKey: appKey, name: name) }
        /// The messages whose sender or target is in `appKey`.
        static func app(_ appKey: String) -> Key { Key(kind: "a", appKey: appKey, name: "") }
        /// The messages to a target: a user (`type` single), a group or a chatroom of `appKey`.
        static func target(type: String, appKey: String, id: String) -> Key {
            switch type {
            case TargetType.group.rawValue: Key(kind: "g", appKey: appKey, name: id)
            case TargetType.chatroom.rawValue: Key(kind: "c", appKey: appKey, name: id)
            default: user(appKey: appKey, name: id)
            }
        }

        static func < (a: Key, b: Key) -> Bool {
            (a.kind, a.appKey, a.name) < (b.kind, b.appKey, b.name)
        }
    }

    /// The ids of `key`'s messages through the position, ascending: the lists in the order they were written, which
    /// is the ids' order (each batch's ids follow the last batch's).
    static func ids(_ db: Database, _ key: Key) throws -> [Int64] {
        let rows = try Row.fetchCursor(
            db, sql: "SELECT ids FROM history_key WHERE kind = ? AND appkey = ? AND name = ? ORDER BY last_msg_id",
            arguments: [key.kind, key.appKey, key.name])
        var ids: [Int64] = []
        var last: Int64 = 0
        while let row = try rows.next() {
            // Strictly ascending even if lists overlapped (they do not: a batch's keys and the position it moves
            // to are one transaction).
            for id in Int64Blob.decode(row[0]) where id > last {
                ids.append(id)
                last = id
            }
        }
        return ids
    }

    /// The migration that replaces the indexes `message_from` and `message_target` with the keys, written for every
    /// message already stored.
    static func registerMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5: history keys behind the writer") { db in
            try db.execute(sql: """
                CREATE TABLE history_key (
                    kind TEXT NOT NULL,
                    appkey TEXT NOT NULL,
                    name TEXT NOT NULL,
                    last_msg_id INTEGER NOT NULL,
                    ids BLOB NOT NULL
                );
                CREATE UNIQUE INDEX history_key_lookup ON history_key(kind, appkey, name, last_msg_id);
                CREATE TABLE history_position (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    msg_id INTEGER NOT NULL
                );
                INSERT INTO history_position (id, msg_id) VALUES (1, 0);
                DROP INDEX message_from;
                DROP INDEX message_target;
                """)
            while try index(db, limit: batch) {}
        }
    }
}
