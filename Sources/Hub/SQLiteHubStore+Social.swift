import Foundation
import GRDB
import IMProtocol

extension SQLiteHubStore {
    /// Groups, chatrooms, friends, blacklists, no-disturb, shields, sensitive words, retraction and inbox events.
    static func registerSocialMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4: groups, relations, chatrooms, moderation, events") { db in
            try db.execute(sql: """
                ALTER TABLE user ADD COLUMN forbidden INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE message ADD COLUMN retracted INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE inbox ADD COLUMN event BLOB;
                ALTER TABLE inbox ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX inbox_msg ON inbox(msg_id) WHERE msg_id > 0;
                CREATE TABLE grp (
                    gid INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL,
                    name TEXT NOT NULL,
                    desc TEXT,
                    avatar TEXT,
                    flag INTEGER NOT NULL,
                    owner_id INTEGER NOT NULL,
                    max_members INTEGER NOT NULL,
                    ctime INTEGER NOT NULL,
                    mtime INTEGER NOT NULL
                );
                CREATE INDEX grp_app ON grp(appkey, gid);
                INSERT INTO sqlite_sequence (name, seq) VALUES ('grp', 10000000);
                CREATE TABLE group_member (
                    gid INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    silenced INTEGER NOT NULL DEFAULT 0,
                    joined INTEGER NOT NULL,
                    PRIMARY KEY (gid, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX group_member_user ON group_member(user_id);
                CREATE TABLE friend (
                    user_id INTEGER NOT NULL,
                    friend_id INTEGER NOT NULL,
                    note_name TEXT,
                    others TEXT,
                    ctime INTEGER NOT NULL,
                    PRIMARY KEY (user_id, friend_id)
                ) WITHOUT ROWID;
                CREATE TABLE blacklist (
                    user_id INTEGER NOT NULL,
                    blocked_id INTEGER NOT NULL,
                    PRIMARY KEY (user_id, blocked_id)
                ) WITHOUT ROWID;
                CREATE TABLE nodisturb (
                    user_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    target INTEGER NOT NULL,
                    PRIMARY KEY (user_id, kind, target)
                ) WITHOUT ROWID;
                CREATE TABLE group_shield (
                    user_id INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    PRIMARY KEY (user_id, gid)
                ) WITHOUT ROWID;
                CREATE TABLE chatroom (
                    room_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL,
                    owner_id INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    description TEXT,
                    ctime INTEGER NOT NULL,
                    mtime INTEGER NOT NULL
                );
                INSERT INTO sqlite_sequence (name, seq) VALUES ('chatroom', 12000000);
                CREATE TABLE chatroom_member (
                    room_id INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    silenced INTEGER NOT NULL DEFAULT 0,
                    joined INTEGER NOT NULL,
                    PRIMARY KEY (room_id, user_id)
                ) WITHOUT ROWID;
                CREATE TABLE sensitive_word (
                    appkey TEXT NOT NULL,
                    word TEXT NOT NULL,
                    ctime INTEGER NOT NULL,
                    PRIMARY KEY (appkey, word)
                ) WITHOUT ROWID;
                CREATE TABLE app_state (
                    appkey TEXT PRIMARY KEY NOT NULL,
                    sensitive_filter INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
    }

    /// An account's username, quoted, for error messages (the id when the account is gone).
    static func name(_ db: Database, _ userID: Int64) throws -> String {
        try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [userID]).map { "'\($0)'" }
            ?? "user #\(userID)"
    }

    // MARK: Sending

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

    // MARK: Accounts

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
        try await pool.write { db in
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
            try Bool.fetchOne(db, sql: "SELECT forbidden FROM user WHERE id = ?", arguments: [userID]) ?? false
        }
    }

    // MARK: Groups

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

    // MARK: Relations

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

    // MARK: Chatrooms

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

    // MARK: Moderation

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
        try await pool.write { db in
            try db.execute(sql: "UPDATE message SET retracted = 1 WHERE msg_id = ?", arguments: [msgID])
            return try Int64.fetchAll(db, sql: "SELECT DISTINCT user_id FROM inbox WHERE msg_id = ? ORDER BY user_id",
                                      arguments: [msgID])
        }
    }

    /// Stores an event in inboxes.
    public func appendEvent(_ event: ChatEvent, recipients: [Int64], expiresAt: Int64?) async throws -> [(userID: Int64, seq: Int64)] {
        guard !recipients.isEmpty else { return [] }
        return try await pool.write { db in
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
            return entries
        }
    }
}
