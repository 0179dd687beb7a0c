import Foundation
import GRDB
import IMProtocol

/// ``GroupStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    static let groupColumns = """
        grp.*, owner.username AS owner_username, owner.appkey AS owner_appkey
        FROM grp JOIN user AS owner ON owner.id = grp.owner_id
        """

    static func group(from row: Row) -> Group {
        Group(gid: row["gid"], appKey: row["appkey"], name: row["name"], desc: row["desc"], avatar: row["avatar"],
              flag: row["flag"], ownerID: row["owner_id"], ownerUsername: row["owner_username"],
              ownerAppKey: row["owner_appkey"], maxMemberCount: row["max_members"], ctime: row["ctime"], mtime: row["mtime"])
    }

    static func fetchGroup(_ db: Database, gid: Int64) throws -> Group? {
        try Row.fetchOne(db, sql: "SELECT \(groupColumns) WHERE grp.gid = ?", arguments: [gid]).map(group(from:))
    }

    /// Creates a group with its members.
    public func createGroup(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, desc: String?, avatar: String?,
                            flag: Int, maxMembers: Int, now: Int64) async throws -> Group {
        try await pool.write { db in
            var all = [ownerID]
            for id in memberIDs where !all.contains(id) { all.append(id) }
            guard all.count <= maxMembers else {
                throw HubError(.groupFull, "a group holds at most \(maxMembers) members; \(all.count) given")
            }
            try db.execute(
                sql: """
                    INSERT INTO grp (appkey, name, desc, avatar, flag, owner_id, max_members, ctime, mtime)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [appKey, name, desc, avatar, flag, ownerID, maxMembers, now, now])
            let gid = db.lastInsertedRowID
            let insert = try db.cachedStatement(sql: "INSERT INTO group_member (gid, user_id, joined) VALUES (?, ?, ?)")
            for id in all { try insert.execute(arguments: [gid, id, now]) }
            guard let group = try Self.fetchGroup(db, gid: gid) else { throw HubError.storage }
            return group
        }
    }

    /// The group with this id.
    public func group(gid: Int64) async throws -> Group? {
        try await pool.read { db in try Self.fetchGroup(db, gid: gid) }
    }

    /// Changes a group's fields.
    public func updateGroup(gid: Int64, name: String?, desc: String?, avatar: String?, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE grp SET name = COALESCE(?, name), desc = COALESCE(?, desc), avatar = COALESCE(?, avatar),
                        mtime = ? WHERE gid = ?
                    """,
                arguments: [name, desc, avatar, now, gid])
        }
    }

    /// Deletes a group; returns its former members.
    public func deleteGroup(gid: Int64) async throws -> [Int64] {
        try await pool.write { db in
            let members = try Int64.fetchAll(db, sql: "SELECT user_id FROM group_member WHERE gid = ?", arguments: [gid])
            for sql in [
                "DELETE FROM group_member WHERE gid = ?", "DELETE FROM group_shield WHERE gid = ?",
                "DELETE FROM nodisturb WHERE kind = 'group' AND target = ?", "DELETE FROM grp WHERE gid = ?",
            ] {
                try db.execute(sql: sql, arguments: [gid])
            }
            return members
        }
    }

    /// The members, owner first.
    public func members(gid: Int64) async throws -> [GroupMember] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT user.*, group_member.silenced AS member_silenced, (grp.owner_id = user.id) AS is_owner
                    FROM group_member JOIN user ON user.id = group_member.user_id JOIN grp ON grp.gid = group_member.gid
                    WHERE group_member.gid = ? ORDER BY is_owner DESC, group_member.joined, user.id
                    """,
                arguments: [gid]
            ).map { GroupMember(user: Self.user(from: $0), isOwner: $0["is_owner"], silenced: $0["member_silenced"]) }
        }
    }

    /// Member ids with their shield flag.
    public func memberIDs(gid: Int64) async throws -> [(userID: Int64, shielded: Bool, quiet: Bool)] {
        try await pool.read { db in
            try Row.fetchAll(
                try db.cachedStatement(sql: """
                    SELECT m.user_id, (s.user_id IS NOT NULL) AS shielded,
                        EXISTS (SELECT 1 FROM nodisturb AS n WHERE n.user_id = m.user_id
                                AND ((n.kind = 'group' AND n.target = m.gid) OR n.kind = 'global')) AS quiet
                    FROM group_member AS m
                    LEFT JOIN group_shield AS s ON s.user_id = m.user_id AND s.gid = m.gid
                    WHERE m.gid = ? ORDER BY m.user_id
                    """),
                arguments: [gid]
            ).map { (userID: $0["user_id"], shielded: $0["shielded"], quiet: $0["quiet"]) }
        }
    }

    /// Whether an account is a member.
    public func membership(gid: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool) {
        try await pool.read { db in
            guard let silenced = try Bool.fetchOne(
                try db.cachedStatement(sql: "SELECT silenced FROM group_member WHERE gid = ? AND user_id = ?"),
                arguments: [gid, userID])
            else { return (false, false) }
            return (true, silenced)
        }
    }

    /// Adds and removes members atomically.
    public func changeMembers(gid: Int64, add: [Int64], remove: [Int64], now: Int64) async throws -> (added: [Int64], removed: [Int64]) {
        try await pool.write { db in
            guard let group = try Self.fetchGroup(db, gid: gid) else {
                throw HubError(.groupIDNotFound, "group \(gid) does not exist")
            }
            let isMember = try db.cachedStatement(sql: "SELECT 1 FROM group_member WHERE gid = ? AND user_id = ?")
            var removed: [Int64] = []
            for id in remove where !removed.contains(id) {
                guard try Int.fetchOne(isMember, arguments: [gid, id]) != nil else {
                    throw HubError(.notAMember, "\(try Self.name(db, id)) is not a member of group \(gid)")
                }
                if id == group.ownerID {
                    throw HubError.invalid("remove", "the owner cannot be removed; transfer the group first")
                }
                try db.execute(sql: "DELETE FROM group_member WHERE gid = ? AND user_id = ?", arguments: [gid, id])
                removed.append(id)
            }
            var added: [Int64] = []
            let insert = try db.cachedStatement(sql: "INSERT INTO group_member (gid, user_id, joined) VALUES (?, ?, ?)")
            for id in add {
                guard try Int.fetchOne(isMember, arguments: [gid, id]) == nil, !added.contains(id) else {
                    throw HubError(.memberAlreadyAdded, "\(try Self.name(db, id)) is already a member of group \(gid)")
                }
                try insert.execute(arguments: [gid, id, now])
                added.append(id)
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_member WHERE gid = ?", arguments: [gid]) ?? 0
            guard count <= group.maxMemberCount else {
                throw HubError(.groupFull, "group \(gid) holds at most \(group.maxMemberCount) members; this would make \(count)")
            }
            if !added.isEmpty || !removed.isEmpty {
                try db.execute(sql: "UPDATE grp SET mtime = ? WHERE gid = ?", arguments: [now, gid])
            }
            return (added, removed)
        }
    }

    /// One page of an app's groups.
    public func listGroups(appKey: String, start: Int, count: Int) async throws -> Page<Group> {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM grp WHERE appkey = ?", arguments: [appKey]) ?? 0
            let rows = try Row.fetchAll(db, sql: "SELECT \(Self.groupColumns) WHERE grp.appkey = ? ORDER BY grp.gid LIMIT ? OFFSET ?",
                                        arguments: [appKey, count, start])
            return Page(total: total, items: rows.map(Self.group(from:)))
        }
    }

    /// The groups of an account.
    public func groups(ofUser userID: Int64) async throws -> [Group] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.groupColumns) JOIN group_member AS m ON m.gid = grp.gid WHERE m.user_id = ? ORDER BY grp.gid",
                arguments: [userID]
            ).map(Self.group(from:))
        }
    }

    /// Silences or unsilences members.
    public func setSilenced(gid: Int64, userIDs: [Int64], _ silenced: Bool) async throws {
        try await pool.write { db in
            for id in userIDs {
                try db.execute(sql: "UPDATE group_member SET silenced = ? WHERE gid = ? AND user_id = ?",
                               arguments: [silenced, gid, id])
                guard db.changesCount == 1 else { throw HubError(.notAMember, "\(try Self.name(db, id)) is not a member of group \(gid)") }
            }
        }
    }

    /// Makes a member the owner.
    public func transferOwner(gid: Int64, to userID: Int64, now: Int64) async throws {
        try await pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM group_member WHERE gid = ? AND user_id = ?",
                                   arguments: [gid, userID]) != nil else {
                throw HubError(.notAMember, "the new owner must be a member of group \(gid)")
            }
            try db.execute(sql: "UPDATE grp SET owner_id = ?, mtime = ? WHERE gid = ?", arguments: [userID, now, gid])
        }
    }
}
