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
        let forbidden = try Bool.fetchOne(try db.cachedStatement(sql: "SELECT forbidden FROM user WHERE id = ?"), arguments: [senderID]) ?? false
        let devices = try Int.fetchOne(try db.cachedStatement(sql: "SELECT COUNT(*) FROM device WHERE user_id = ?"), arguments: [senderID]) ?? 0
        var single: SendContext.Single?
        if let recipient, let row = try Row.fetchOne(
            try db.cachedStatement(sql: "SELECT \(Self.userColumns) FROM user WHERE appkey = ? AND username = ?"),
            arguments: [recipient.appKey, recipient.username]) {
            let user = Self.user(fromColumns: row)
            let relation = try Row.fetchOne(try db.cachedStatement(sql: """
                    SELECT
                        EXISTS (SELECT 1 FROM blacklist WHERE user_id = ?1 AND blocked_id = ?2) AS blacklisted,
                        EXISTS (SELECT 1 FROM friend WHERE user_id = ?1 AND friend_id = ?2) AS friends,
                        EXISTS (SELECT 1 FROM nodisturb WHERE user_id = ?1
                                AND ((kind = 'single' AND target = ?2) OR kind = 'global')) AS quiet
                    """),
                arguments: [user.id, senderID])
            // By position: a lookup by name lowercases the name on every read (GRDB), once per send.
            single = SendContext.Single(recipient: user, blacklisted: relation?[0] ?? false,
                                        friends: relation?[1] ?? false, quiet: relation?[2] ?? false)
        }
        return SendContext(senderForbidden: forbidden, senderDevices: devices, single: single)
    }
}
