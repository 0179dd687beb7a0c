import Foundation
import GRDB
import IMProtocol

/// ``RelationStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    /// Adds friends both ways.
    public func addFriends(userID: Int64, _ friendIDs: [Int64], now: Int64) async throws {
        try await pool.write { db in
            let exists = try db.cachedStatement(sql: "SELECT 1 FROM friend WHERE user_id = ? AND friend_id = ?")
            let insert = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO friend (user_id, friend_id, ctime) VALUES (?, ?, ?)")
            for id in friendIDs {
                guard id != userID else { throw HubError.invalid("users", "a user cannot befriend itself") }
                guard try Int.fetchOne(exists, arguments: [userID, id]) == nil else {
                    throw HubError(.friendExists, "\(try Self.name(db, id)) is already a friend")
                }
                try insert.execute(arguments: [userID, id, now])
                try insert.execute(arguments: [id, userID, now])
            }
        }
    }

    /// Ends friendships both ways.
    public func removeFriends(userID: Int64, _ friendIDs: [Int64]) async throws {
        try await pool.write { db in
            for id in friendIDs {
                try db.execute(sql: "DELETE FROM friend WHERE user_id = ? AND friend_id = ?", arguments: [userID, id])
                guard db.changesCount == 1 else { throw HubError(.notAFriend, "\(try Self.name(db, id)) is not a friend") }
                try db.execute(sql: "DELETE FROM friend WHERE user_id = ? AND friend_id = ?", arguments: [id, userID])
            }
        }
    }

    /// Changes notes about friends.
    public func updateFriends(userID: Int64, _ notes: [(friendID: Int64, noteName: String?, others: String?)]) async throws {
        try await pool.write { db in
            for note in notes {
                try db.execute(
                    sql: """
                        UPDATE friend SET note_name = COALESCE(?, note_name), others = COALESCE(?, others)
                        WHERE user_id = ? AND friend_id = ?
                        """,
                    arguments: [note.noteName, note.others, userID, note.friendID])
                guard db.changesCount == 1 else { throw HubError(.notAFriend, "\(try Self.name(db, note.friendID)) is not a friend") }
            }
        }
    }

    /// A user's friends.
    public func friends(userID: Int64) async throws -> [Friend] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT user.*, friend.note_name AS f_note, friend.others AS f_others, friend.ctime AS f_ctime
                    FROM friend JOIN user ON user.id = friend.friend_id WHERE friend.user_id = ? ORDER BY friend.ctime, user.id
                    """,
                arguments: [userID]
            ).map { Friend(user: Self.user(from: $0), noteName: $0["f_note"], others: $0["f_others"], ctime: $0["f_ctime"]) }
        }
    }


    /// Adds to a blacklist.
    public func addToBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws {
        try await pool.write { db in
            for id in blockedIDs {
                try db.execute(sql: "INSERT OR IGNORE INTO blacklist (user_id, blocked_id) VALUES (?, ?)", arguments: [userID, id])
                guard db.changesCount == 1 else { throw HubError(.alreadyBlacklisted, "\(try Self.name(db, id)) is already on the blacklist") }
            }
        }
    }

    /// Removes from a blacklist.
    public func removeFromBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws {
        try await pool.write { db in
            for id in blockedIDs {
                try db.execute(sql: "DELETE FROM blacklist WHERE user_id = ? AND blocked_id = ?", arguments: [userID, id])
                guard db.changesCount == 1 else { throw HubError(.notBlacklisted, "\(try Self.name(db, id)) is not on the blacklist") }
            }
        }
    }

    /// A user's blacklist.
    public func blacklist(userID: Int64) async throws -> [User] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT user.* FROM blacklist JOIN user ON user.id = blacklist.blocked_id WHERE blacklist.user_id = ? ORDER BY user.id",
                             arguments: [userID]).map(Self.user(from:))
        }
    }


    /// Applies no-disturb changes.
    public func changeNoDisturb(userID: Int64, addSingles: [Int64], removeSingles: [Int64], addGroups: [Int64],
                                removeGroups: [Int64], global: Bool?) async throws {
        try await pool.write { db in
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO nodisturb (user_id, kind, target) VALUES (?, ?, ?)")
            let delete = try db.cachedStatement(sql: "DELETE FROM nodisturb WHERE user_id = ? AND kind = ? AND target = ?")
            for id in addSingles { try insert.execute(arguments: [userID, "single", id]) }
            for id in removeSingles { try delete.execute(arguments: [userID, "single", id]) }
            for gid in addGroups { try insert.execute(arguments: [userID, "group", gid]) }
            for gid in removeGroups { try delete.execute(arguments: [userID, "group", gid]) }
            if let global {
                try (global ? insert : delete).execute(arguments: [userID, "global", 0])
            }
        }
    }


    /// Shields and unshields groups.
    public func changeGroupShield(userID: Int64, add: [Int64], remove: [Int64]) async throws {
        try await pool.write { db in
            for gid in add {
                try db.execute(sql: "INSERT OR IGNORE INTO group_shield (user_id, gid) VALUES (?, ?)", arguments: [userID, gid])
            }
            for gid in remove {
                try db.execute(sql: "DELETE FROM group_shield WHERE user_id = ? AND gid = ?", arguments: [userID, gid])
            }
        }
    }
}
