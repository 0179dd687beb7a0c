import Foundation
import GRDB
import IMProtocol

/// ``AccountStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    /// The account with this id.
    public func user(id: Int64) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM user WHERE id = ?", arguments: [id]).map(Self.user(from:))
        }
    }

    /// The accounts with these usernames.
    public func users(appKey: String, usernames: [String]) async throws -> [User] {
        guard !usernames.isEmpty else { return [] }
        return try await pool.read { db in
            let stmt = try db.cachedStatement(sql: "SELECT * FROM user WHERE appkey = ? AND username = ?")
            return try usernames.compactMap { try Row.fetchOne(stmt, arguments: [appKey, $0]).map(Self.user(from:)) }
        }
    }

    /// Replaces a profile.
    public func updateProfile(userID: Int64, profile: Profile, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE user SET nickname = ?, avatar = ?, birthday = ?, gender = ?, signature = ?, region = ?,
                        address = ?, extras = ?, mtime = ? WHERE id = ?
                    """,
                arguments: [profile.nickname, profile.avatar, profile.birthday, profile.gender, profile.signature,
                            profile.region, profile.address, profile.extras.map { JSONValue.object($0).serializedString() },
                            now, userID])
        }
    }

    /// Deletes accounts and everything that hangs on them except their messages.
    public func deleteUsers(_ userIDs: [Int64], now: Int64) async throws {
        let memo = memo
        try await pool.write { db in
            // The accounts' queued entries too: moved into `inbox` first, then deleted with the rest.
            try InboxQueue.materializeAll(db, memo: memo)
            for id in userIDs {
                // Groups the account owns pass to the member who joined first, or go when it was alone.
                let owned = try Int64.fetchAll(db, sql: "SELECT gid FROM grp WHERE owner_id = ?", arguments: [id])
                for gid in owned {
                    if let heir = try Int64.fetchOne(
                        db, sql: "SELECT user_id FROM group_member WHERE gid = ? AND user_id != ? ORDER BY joined, user_id LIMIT 1",
                        arguments: [gid, id]) {
                        try db.execute(sql: "UPDATE grp SET owner_id = ?, mtime = ? WHERE gid = ?", arguments: [heir, now, gid])
                    } else {
                        try db.execute(sql: "DELETE FROM grp WHERE gid = ?", arguments: [gid])
                        try db.execute(sql: "DELETE FROM group_shield WHERE gid = ?", arguments: [gid])
                    }
                }
                // One statement at a time: GRDB hands the arguments of a multi-statement string to its first
                // statement only, and the next would find no argument.
                for sql in [
                    "DELETE FROM group_member WHERE user_id = ?1",
                    "DELETE FROM chatroom_member WHERE user_id = ?1",
                    "DELETE FROM friend WHERE user_id = ?1 OR friend_id = ?1",
                    "DELETE FROM blacklist WHERE user_id = ?1 OR blocked_id = ?1",
                    "DELETE FROM nodisturb WHERE user_id = ?1 OR (kind = 'single' AND target = ?1)",
                    "DELETE FROM group_shield WHERE user_id = ?1",
                    "DELETE FROM inbox WHERE user_id = ?1",
                    "DELETE FROM inbox_cursor WHERE user_id = ?1",
                    "DELETE FROM device WHERE user_id = ?1",
                    "DELETE FROM user WHERE id = ?1",
                ] {
                    try db.execute(sql: sql, arguments: [id])
                }
            }
        }
    }

    /// One page of an app's accounts.
    public func listUsers(appKey: String, kinds: [FromType], start: Int, count: Int) async throws -> Page<User> {
        try await pool.read { db in
            let marks = kinds.map { _ in "?" }.joined(separator: ",")
            let args = StatementArguments([appKey] + kinds.map(\.rawValue))
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user WHERE appkey = ? AND kind IN (\(marks))",
                                         arguments: args) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM user WHERE appkey = ? AND kind IN (\(marks)) ORDER BY id LIMIT ? OFFSET ?",
                arguments: args + [count, start])
            return Page(total: total, items: rows.map(Self.user(from:)))
        }
    }

    /// Sets the forbidden flag.
    public func setForbidden(userID: Int64, _ forbidden: Bool, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE user SET forbidden = ?, mtime = ? WHERE id = ?", arguments: [forbidden, now, userID])
        }
    }

    /// Whether the account is forbidden.
    public func isForbidden(userID: Int64) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: "SELECT forbidden FROM user WHERE id = ?"), arguments: [userID]) ?? false
        }
    }
}
