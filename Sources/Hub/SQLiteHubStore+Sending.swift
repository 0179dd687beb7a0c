import Foundation
import GRDB
import IMProtocol

/// ``SendRuleStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    /// The sender's state and the single-chat recipient's relation to it, in one read transaction.
    public func sendContext(senderID: Int64, recipient: (appKey: String, username: String)?) async throws -> SendContext {
        try await pool.read { db in try Self.sendContext(db, senderID: senderID, recipient: recipient) }
    }

    /// The reads of ``sendContext(senderID:recipient:)`` inside the caller's transaction (the writer's, for a
    /// single-chat send).
    static func sendContext(_ db: Database, senderID: Int64, recipient: (appKey: String, username: String)?) throws -> SendContext {
        let sender = try senderFlags(db, senderID: senderID)
        let single = try recipient.flatMap { try singleRelation(db, senderID: senderID, recipient: $0) }
        return SendContext(senderForbidden: sender.forbidden, senderDevices: sender.devices, single: single)
    }

    /// The sender's forbidden flag and how many devices it logged in from, in one statement.
    static func senderFlags(_ db: Database, senderID: Int64) throws -> (forbidden: Bool, devices: Int) {
        // Two statements per send, not four: the sender's flags in this one, the recipient with its relation flags
        // in `singleRelation` (each statement step is a round through SQLite's VM and GRDB's bindings).
        let sender = try Row.fetchOne(try db.cachedStatement(sql: """
            SELECT forbidden, (SELECT COUNT(*) FROM device WHERE user_id = ?1) FROM user WHERE id = ?1
            """), arguments: [senderID])
        return (sender?[0] ?? false, sender?[1] ?? 0)
    }

    /// The single-chat recipient with its relation to the sender, in one statement; nil when it does not exist.
    static func singleRelation(_ db: Database, senderID: Int64, recipient: (appKey: String, username: String)) throws
        -> SendContext.Single? {
        guard let row = try Row.fetchOne(try db.cachedStatement(sql: """
                SELECT \(Self.userColumns),
                    EXISTS (SELECT 1 FROM blacklist WHERE user_id = u.id AND blocked_id = ?3) AS blacklisted,
                    EXISTS (SELECT 1 FROM friend WHERE user_id = u.id AND friend_id = ?3) AS friends,
                    EXISTS (SELECT 1 FROM nodisturb WHERE user_id = u.id
                            AND ((kind = 'single' AND target = ?3) OR kind = 'global')) AS quiet
                FROM user u WHERE appkey = ?1 AND username = ?2
                """), arguments: [recipient.appKey, recipient.username, senderID]) else { return nil }
        // By position: a lookup by name lowercases the name on every read (GRDB), once per send.
        return SendContext.Single(recipient: Self.user(fromColumns: row), blacklisted: row[14], friends: row[15],
                                  quiet: row[16])
    }
}
