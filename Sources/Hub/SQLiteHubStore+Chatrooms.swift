import Foundation
import GRDB
import IMProtocol

/// ``ChatroomStore`` on SQLite (the tables are created by ``SQLiteHubStore/registerSocialMigration(_:)``).
extension SQLiteHubStore {
    static let roomColumns = """
        chatroom.*, owner.username AS owner_username,
        (SELECT COUNT(*) FROM chatroom_member AS m WHERE m.room_id = chatroom.room_id) AS member_count
        FROM chatroom JOIN user AS owner ON owner.id = chatroom.owner_id
        """

    static func room(from row: Row) -> Chatroom {
        Chatroom(roomID: row["room_id"], appKey: row["appkey"], ownerUsername: row["owner_username"], name: row["name"],
                 description: row["description"], memberCount: row["member_count"], ctime: row["ctime"])
    }

    /// Creates a room.
    public func createRoom(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, description: String?,
                           now: Int64) async throws -> Chatroom {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO chatroom (appkey, owner_id, name, description, ctime, mtime) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [appKey, ownerID, name, description, now, now])
            let id = db.lastInsertedRowID
            let insert = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO chatroom_member (room_id, user_id, joined) VALUES (?, ?, ?)")
            for member in [ownerID] + memberIDs { try insert.execute(arguments: [id, member, now]) }
            guard let room = try Row.fetchOne(db, sql: "SELECT \(Self.roomColumns) WHERE chatroom.room_id = ?",
                                              arguments: [id]).map(Self.room(from:)) else { throw HubError.storage }
            return room
        }
    }

    /// Rooms by id.
    public func rooms(appKey: String, ids: [Int64]) async throws -> [Chatroom] {
        try await pool.read { db in
            let stmt = try db.cachedStatement(sql: "SELECT \(Self.roomColumns) WHERE chatroom.room_id = ? AND chatroom.appkey = ?")
            return try ids.compactMap { try Row.fetchOne(stmt, arguments: [$0, appKey]).map(Self.room(from:)) }
        }
    }

    /// One page of rooms.
    public func listRooms(appKey: String, start: Int, count: Int) async throws -> Page<Chatroom> {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chatroom WHERE appkey = ?", arguments: [appKey]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(Self.roomColumns) WHERE chatroom.appkey = ? ORDER BY chatroom.room_id LIMIT ? OFFSET ?",
                arguments: [appKey, count, start])
            return Page(total: total, items: rows.map(Self.room(from:)))
        }
    }

    /// Changes a room.
    public func updateRoom(roomID: Int64, ownerID: Int64?, name: String?, description: String?, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE chatroom SET owner_id = COALESCE(?, owner_id), name = COALESCE(?, name),
                        description = COALESCE(?, description), mtime = ? WHERE room_id = ?
                    """,
                arguments: [ownerID, name, description, now, roomID])
            if let ownerID {
                try db.execute(sql: "INSERT OR IGNORE INTO chatroom_member (room_id, user_id, joined) VALUES (?, ?, ?)",
                               arguments: [roomID, ownerID, now])
            }
        }
    }

    /// Deletes a room.
    public func deleteRoom(roomID: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM chatroom_member WHERE room_id = ?", arguments: [roomID])
            try db.execute(sql: "DELETE FROM chatroom WHERE room_id = ?", arguments: [roomID])
        }
    }

    /// One page of a room's members.
    public func roomMembers(roomID: Int64, start: Int, count: Int) async throws -> Page<GroupMember> {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chatroom_member WHERE room_id = ?",
                                         arguments: [roomID]) ?? 0
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT user.*, m.silenced AS member_silenced, (c.owner_id = user.id) AS is_owner
                    FROM chatroom_member AS m JOIN user ON user.id = m.user_id JOIN chatroom AS c ON c.room_id = m.room_id
                    WHERE m.room_id = ? ORDER BY m.joined, user.id LIMIT ? OFFSET ?
                    """,
                arguments: [roomID, count, start])
            return Page(total: total, items: rows.map {
                GroupMember(user: Self.user(from: $0), isOwner: $0["is_owner"], silenced: $0["member_silenced"])
            })
        }
    }

    /// Member ids of a room.
    public func roomMemberIDs(roomID: Int64) async throws -> [Int64] {
        try await pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT user_id FROM chatroom_member WHERE room_id = ? ORDER BY user_id",
                               arguments: [roomID])
        }
    }

    /// Whether an account is in a room.
    public func roomMembership(roomID: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool) {
        try await pool.read { db in
            guard let silenced = try Bool.fetchOne(
                db, sql: "SELECT silenced FROM chatroom_member WHERE room_id = ? AND user_id = ?", arguments: [roomID, userID])
            else { return (false, false) }
            return (true, silenced)
        }
    }

    /// Adds room members.
    public func addRoomMembers(roomID: Int64, _ userIDs: [Int64], now: Int64) async throws {
        try await pool.write { db in
            for id in userIDs {
                try db.execute(sql: "INSERT OR IGNORE INTO chatroom_member (room_id, user_id, joined) VALUES (?, ?, ?)",
                               arguments: [roomID, id, now])
            }
        }
    }

    /// Removes room members.
    public func removeRoomMembers(roomID: Int64, _ userIDs: [Int64]) async throws {
        try await pool.write { db in
            for id in userIDs {
                try db.execute(sql: "DELETE FROM chatroom_member WHERE room_id = ? AND user_id = ?", arguments: [roomID, id])
                guard db.changesCount == 1 else { throw HubError(.notInRoom, "\(try Self.name(db, id)) is not in chatroom \(roomID)") }
            }
        }
    }

    /// Silences a room member.
    public func setRoomSilenced(roomID: Int64, userID: Int64, _ silenced: Bool) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE chatroom_member SET silenced = ? WHERE room_id = ? AND user_id = ?",
                           arguments: [silenced, roomID, userID])
            guard db.changesCount == 1 else { throw HubError(.notInRoom, "\(try Self.name(db, userID)) is not in chatroom \(roomID)") }
        }
    }
}
