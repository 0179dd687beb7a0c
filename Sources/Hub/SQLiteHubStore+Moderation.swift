import Foundation
import GRDB
import IMProtocol

/// ``ModerationStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    /// Adds sensitive words.
    public func addSensitiveWords(appKey: String, _ words: [String], now: Int64) async throws {
        try await pool.write { db in
            for word in words {
                try db.execute(sql: "INSERT OR IGNORE INTO sensitive_word (appkey, word, ctime) VALUES (?, ?, ?)",
                               arguments: [appKey, word, now])
            }
        }
    }

    /// Replaces a sensitive word.
    public func replaceSensitiveWord(appKey: String, old: String, new: String, now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sensitive_word WHERE appkey = ? AND word = ?", arguments: [appKey, old])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "INSERT OR IGNORE INTO sensitive_word (appkey, word, ctime) VALUES (?, ?, ?)",
                           arguments: [appKey, new, now])
            return true
        }
    }

    /// Deletes a sensitive word.
    public func deleteSensitiveWord(appKey: String, _ word: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sensitive_word WHERE appkey = ? AND word = ?", arguments: [appKey, word])
            return db.changesCount == 1
        }
    }

    /// One page of sensitive words.
    public func sensitiveWords(appKey: String, start: Int, count: Int) async throws -> Page<String> {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sensitive_word WHERE appkey = ?", arguments: [appKey]) ?? 0
            let words = try String.fetchAll(
                db, sql: "SELECT word FROM sensitive_word WHERE appkey = ? ORDER BY word LIMIT ? OFFSET ?",
                arguments: [appKey, count, start])
            return Page(total: total, items: words)
        }
    }

    /// Turns the filter on or off.
    public func setSensitiveFilter(appKey: String, _ on: Bool) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO app_state (appkey, sensitive_filter) VALUES (?, ?)
                    ON CONFLICT(appkey) DO UPDATE SET sensitive_filter = excluded.sensitive_filter
                    """,
                arguments: [appKey, on])
        }
    }

    /// Whether the filter is on.
    public func sensitiveFilter(appKey: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT sensitive_filter FROM app_state WHERE appkey = ?", arguments: [appKey]) ?? false
        }
    }

    /// A message with its sender and retraction flag.
    public func messageRecord(msgID: Int64) async throws -> MessageRecord? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT msg_id, msg_ctime, body, sender_user_id, retracted FROM message WHERE msg_id = ?",
                arguments: [msgID]) else { return nil }
            return MessageRecord(stored: try Self.stored(from: row), senderUserID: row["sender_user_id"],
                                 retracted: row["retracted"])
        }
    }

    /// Marks a message retracted.
    public func markRetracted(msgID: Int64) async throws -> [Int64] {
        let memo = memo
        return try await pool.write { db in
            try InboxQueue.materializeAll(db, memo: memo)
            try db.execute(sql: "UPDATE message SET retracted = 1 WHERE msg_id = ?", arguments: [msgID])
            return try Int64.fetchAll(db, sql: "SELECT DISTINCT user_id FROM inbox WHERE msg_id = ? ORDER BY user_id",
                                      arguments: [msgID])
        }
    }

    /// Stores an event in inboxes.
    public func appendEvent(_ event: ChatEvent, recipients: [Int64], expiresAt: Int64?) async throws -> [(userID: Int64, seq: Int64)] {
        guard !recipients.isEmpty else { return [] }
        let memo = memo
        return try await pool.write { db in
            // The heads are read from `inbox`: the queued entries go there first.
            try InboxQueue.materializeAll(db, memo: memo)
            let blob = Data(event.json.serialized())
            let head = try db.cachedStatement(sql: "SELECT MAX(seq) FROM inbox WHERE user_id = ?")
            let insert = try db.cachedStatement(
                sql: "INSERT INTO inbox (user_id, seq, msg_id, expires_at, event) VALUES (?, ?, 0, ?, ?)")
            var entries: [(userID: Int64, seq: Int64)] = []
            var seen = Set<Int64>()
            for userID in recipients where seen.insert(userID).inserted {
                let seq = (try Int64.fetchOne(head, arguments: [userID]) ?? 0) + 1
                try insert.execute(arguments: [userID, seq, expiresAt, blob])
                entries.append((userID, seq))
            }
            try Self.logEvent(db, event, recipients: recipients, blob: blob)
            return entries
        }
    }
}
