import Foundation
import Hub
import IMProtocol
import PostgresNIO

extension PostgresHubStore {
    /// An account's username, quoted, for error messages (the id when the account is gone).
    static func name(_ c: PostgresConnection, _ userID: Int64) async throws -> String {
        try await c.value(String.self, "SELECT username FROM account WHERE id = \(userID)").map { "'\($0)'" }
            ?? "user #\(userID)"
    }

    // MARK: Sending

    /// The sender's state and the single-chat recipient's relation to it, in one statement (each statement is a
    /// round trip and a parse and plan on the server, three per send before: BENCHMARKS.md).
    public func sendContext(senderID: Int64, recipient: (appKey: String, username: String)?) async throws -> SendContext {
        try await database.read { c in
            guard let recipient else {
                let row = try await c.row("""
                    SELECT s.forbidden AS s_forbidden, (SELECT COUNT(*) FROM login_device WHERE user_id = s.id) AS s_devices
                    FROM account AS s WHERE s.id = \(senderID)
                    """)
                return SendContext(senderForbidden: try row?.get("s_forbidden", as: Bool.self) ?? false,
                                   senderDevices: Int(try row?.get("s_devices", as: Int64.self) ?? 0), single: nil)
            }
            // One row whether or not the sender or the recipient exists (their columns are NULL when missing), from
            // a prepared statement: parsed and planned once per connection, not once per send.
            guard let row = try await c.execute(SendContextStatement(senderID: senderID, appKey: recipient.appKey,
                                                                     username: recipient.username),
                                                logger: quietLogger).first(where: { _ in true })
            else { throw HubError.storage }
            var single: SendContext.Single?
            if try row.get("id", as: Int64?.self) != nil {
                single = SendContext.Single(recipient: try Self.user(from: row), blacklisted: try row.get("r_blacklisted"),
                                            friends: try row.get("r_friends"), quiet: try row.get("r_quiet"))
            }
            return SendContext(senderForbidden: try row.get("s_forbidden", as: Bool?.self) ?? false,
                               senderDevices: Int(try row.get("s_devices", as: Int64.self)), single: single)
        }
    }

    /// The single-chat send context's statement (see ``sendContext(senderID:recipient:)``).
    struct SendContextStatement: PostgresPreparedStatement {
        static let name = "mynah_send_context_v1"
        static let sql = """
            SELECT s.forbidden AS s_forbidden,
                (SELECT COUNT(*) FROM login_device WHERE user_id = $1) AS s_devices, r.*
            FROM (SELECT 1) AS one
            LEFT JOIN account AS s ON s.id = $1
            LEFT JOIN LATERAL (
                SELECT account.*,
                    EXISTS (SELECT 1 FROM blacklist WHERE user_id = account.id AND blocked_id = $1) AS r_blacklisted,
                    EXISTS (SELECT 1 FROM friend WHERE user_id = account.id AND friend_id = $1) AS r_friends,
                    EXISTS (SELECT 1 FROM nodisturb WHERE user_id = account.id
                            AND ((kind = 'single' AND target = $1) OR kind = 'global')) AS r_quiet
                FROM account WHERE appkey = $2 AND username = $3) AS r ON true
            """
        static let bindingDataTypes: [PostgresDataType] = [.int8, .text, .text]

        var senderID: Int64
        var appKey: String
        var username: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(senderID)
            bindings.append(appKey)
            bindings.append(username)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
    }

    // MARK: Accounts

    /// The account with this id.
    public func user(id: Int64) async throws -> User? {
        try await database.read { c in
            try await c.row("SELECT * FROM account WHERE id = \(id)").map(Self.user(from:))
        }
    }

    /// The accounts with these usernames, in the order asked.
    public func users(appKey: String, usernames: [String]) async throws -> [User] {
        guard !usernames.isEmpty else { return [] }
        let found = try await database.read { c in
            try await c.rows("SELECT * FROM account WHERE appkey = \(appKey) AND username = ANY(\(usernames)::text[])")
                .map(Self.user(from:))
        }
        let byName = Dictionary(found.map { ($0.username, $0) }, uniquingKeysWith: { a, _ in a })
        return usernames.compactMap { byName[$0] }
    }

    /// Replaces a profile.
    public func updateProfile(userID: Int64, profile: Profile, now: Int64) async throws {
        let extras = profile.extras.map { JSONValue.object($0).serializedString() }
        let gender = profile.gender.map(Int64.init)
        try await database.write { c in
            try await c.run("""
                UPDATE account SET nickname = \(profile.nickname), avatar = \(profile.avatar), birthday = \(profile.birthday),
                    gender = \(gender), signature = \(profile.signature), region = \(profile.region),
                    address = \(profile.address), extras = \(extras), mtime = \(now) WHERE id = \(userID)
                """)
        }
    }

    /// Deletes accounts and everything that hangs on them except their messages.
    public func deleteUsers(_ userIDs: [Int64], now: Int64) async throws {
        try await database.write { c in
            for id in userIDs {
                // Groups the account owns pass to the member who joined first, or go when it was alone.
                for gid in try await c.values(Int64.self, "SELECT gid FROM grp WHERE owner_id = \(id)") {
                    if let heir = try await c.value(Int64.self, """
                        SELECT user_id FROM group_member WHERE gid = \(gid) AND user_id != \(id) ORDER BY joined, user_id LIMIT 1
                        """) {
                        try await c.run("UPDATE grp SET owner_id = \(heir), mtime = \(now) WHERE gid = \(gid)")
                    } else {
                        try await c.run("DELETE FROM grp WHERE gid = \(gid)")
                        try await c.run("DELETE FROM group_shield WHERE gid = \(gid)")
                    }
                }
                try await c.run("DELETE FROM group_member WHERE user_id = \(id)")
                try await c.run("DELETE FROM chatroom_member WHERE user_id = \(id)")
                try await c.run("DELETE FROM friend WHERE user_id = \(id) OR friend_id = \(id)")
                try await c.run("DELETE FROM blacklist WHERE user_id = \(id) OR blocked_id = \(id)")
                try await c.run("DELETE FROM nodisturb WHERE user_id = \(id) OR (kind = 'single' AND target = \(id))")
                try await c.run("DELETE FROM group_shield WHERE user_id = \(id)")
                try await c.run("DELETE FROM inbox WHERE user_id = \(id)")
                try await c.run("DELETE FROM inbox_head WHERE user_id = \(id)")
                try await c.run("DELETE FROM inbox_cursor WHERE user_id = \(id)")
                try await c.run("DELETE FROM login_device WHERE user_id = \(id)")
                try await c.run("DELETE FROM account WHERE id = \(id)")
            }
        }
    }

    /// One page of an app's accounts.
    public func listUsers(appKey: String, kinds: [FromType], start: Int, count: Int) async throws -> Page<User> {
        let kinds = kinds.map(\.rawValue)
        return try await database.read { c in
            let total = try await c.value(Int64.self, """
                SELECT COUNT(*) FROM account WHERE appkey = \(appKey) AND kind = ANY(\(kinds)::text[])
                """) ?? 0
            let rows = try await c.rows("""
                SELECT * FROM account WHERE appkey = \(appKey) AND kind = ANY(\(kinds)::text[])
                ORDER BY id LIMIT \(Int64(count)) OFFSET \(Int64(start))
                """)
            return Page(total: Int(total), items: try rows.map(Self.user(from:)))
        }
    }

    /// Sets the forbidden flag.
    public func setForbidden(userID: Int64, _ forbidden: Bool, now: Int64) async throws {
        try await database.write { c in
            try await c.run("UPDATE account SET forbidden = \(forbidden), mtime = \(now) WHERE id = \(userID)")
        }
    }

    /// Whether the account is forbidden.
    public func isForbidden(userID: Int64) async throws -> Bool {
        try await database.read { c in
            try await c.value(Bool.self, "SELECT forbidden FROM account WHERE id = \(userID)") ?? false
        }
    }

    // MARK: Groups

    static let groupColumns = """
        grp.*, owner.username AS owner_username, owner.appkey AS owner_appkey
        FROM grp JOIN account AS owner ON owner.id = grp.owner_id
        """

    static func group(from row: PostgresRandomAccessRow) throws -> Group {
        Group(gid: try row.get("gid"), appKey: try row.get("appkey"), name: try row.get("name"),
              desc: try row.get("description"), avatar: try row.get("avatar"), flag: try row.get("flag"),
              ownerID: try row.get("owner_id"), ownerUsername: try row.get("owner_username"),
              ownerAppKey: try row.get("owner_appkey"), maxMemberCount: try row.get("max_members"),
              ctime: try row.get("ctime"), mtime: try row.get("mtime"))
    }

    static func fetchGroup(_ c: PostgresConnection, gid: Int64) async throws -> Group? {
        try await c.row(PostgresQuery(unsafeSQL: "SELECT \(groupColumns) WHERE grp.gid = $1", binds: bindings(gid)))
            .map(group(from:))
    }

    static func bindings(_ values: Int64...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    static func member(from row: PostgresRandomAccessRow) throws -> GroupMember {
        GroupMember(user: try user(from: row), isOwner: try row.get("is_owner"), silenced: try row.get("member_silenced"))
    }

    /// Creates a group with its members.
    public func createGroup(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, desc: String?, avatar: String?,
                            flag: Int, maxMembers: Int, now: Int64) async throws -> Group {
        var all = [ownerID]
        for id in memberIDs where !all.contains(id) { all.append(id) }
        guard all.count <= maxMembers else {
            throw HubError(.groupFull, "a group holds at most \(maxMembers) members; \(all.count) given")
        }
        let members = all
        return try await database.write { c in
            guard let gid = try await c.value(Int64.self, """
                INSERT INTO grp (appkey, name, description, avatar, flag, owner_id, max_members, ctime, mtime)
                VALUES (\(appKey), \(name), \(desc), \(avatar), \(Int64(flag)), \(ownerID), \(Int64(maxMembers)), \(now), \(now))
                RETURNING gid
                """) else { throw HubError.storage }
            try await c.run("""
                INSERT INTO group_member (gid, user_id, joined) SELECT \(gid), u, \(now) FROM unnest(\(members)::bigint[]) AS t(u)
                """)
            guard let group = try await Self.fetchGroup(c, gid: gid) else { throw HubError.storage }
            return group
        }
    }

    /// The group with this id.
    public func group(gid: Int64) async throws -> Group? {
        try await database.read { c in try await Self.fetchGroup(c, gid: gid) }
    }

    /// Changes a group's fields.
    public func updateGroup(gid: Int64, name: String?, desc: String?, avatar: String?, now: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE grp SET name = COALESCE(\(name), name), description = COALESCE(\(desc), description),
                    avatar = COALESCE(\(avatar), avatar), mtime = \(now) WHERE gid = \(gid)
                """)
        }
    }

    /// Deletes a group; returns its former members.
    public func deleteGroup(gid: Int64) async throws -> [Int64] {
        try await database.write { c in
            let members = try await c.values(Int64.self, "SELECT user_id FROM group_member WHERE gid = \(gid)")
            try await c.run("DELETE FROM group_member WHERE gid = \(gid)")
            try await c.run("DELETE FROM group_shield WHERE gid = \(gid)")
            try await c.run("DELETE FROM nodisturb WHERE kind = 'group' AND target = \(gid)")
            try await c.run("DELETE FROM grp WHERE gid = \(gid)")
            return members
        }
    }

    /// The members, owner first.
    public func members(gid: Int64) async throws -> [GroupMember] {
        try await database.read { c in
            try await c.rows("""
                SELECT account.*, group_member.silenced AS member_silenced, (grp.owner_id = account.id) AS is_owner
                FROM group_member JOIN account ON account.id = group_member.user_id JOIN grp ON grp.gid = group_member.gid
                WHERE group_member.gid = \(gid) ORDER BY is_owner DESC, group_member.joined, account.id
                """).map(Self.member(from:))
        }
    }

    /// Member ids with their shield and no-disturb flags.
    public func memberIDs(gid: Int64) async throws -> [(userID: Int64, shielded: Bool, quiet: Bool)] {
        let rows = try await database.read { c in
            try await c.rows("""
                SELECT m.user_id, (s.user_id IS NOT NULL) AS shielded,
                    EXISTS (SELECT 1 FROM nodisturb AS n WHERE n.user_id = m.user_id
                            AND ((n.kind = 'group' AND n.target = m.gid) OR n.kind = 'global')) AS quiet
                FROM group_member AS m
                LEFT JOIN group_shield AS s ON s.user_id = m.user_id AND s.gid = m.gid
                WHERE m.gid = \(gid) ORDER BY m.user_id
                """).map { MemberFlags(userID: try $0.get("user_id"), shielded: try $0.get("shielded"), quiet: try $0.get("quiet")) }
        }
        return rows.map { (userID: $0.userID, shielded: $0.shielded, quiet: $0.quiet) }
    }

    struct MemberFlags: Sendable {
        var userID: Int64
        var shielded: Bool
        var quiet: Bool
    }

    /// Whether an account is a member.
    public func membership(gid: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool) {
        let silenced = try await database.read { c in
            try await c.value(Bool.self, "SELECT silenced FROM group_member WHERE gid = \(gid) AND user_id = \(userID)")
        }
        guard let silenced else { return (false, false) }
        return (true, silenced)
    }

    /// Adds and removes members atomically.
    public func changeMembers(gid: Int64, add: [Int64], remove: [Int64], now: Int64) async throws -> (added: [Int64], removed: [Int64]) {
        let (added, removed) = try await database.write { c -> ([Int64], [Int64]) in
            // The group's row is locked so that two concurrent changes cannot both pass the size check.
            guard try await c.value(Int64.self, "SELECT gid FROM grp WHERE gid = \(gid) FOR UPDATE") != nil,
                  let group = try await Self.fetchGroup(c, gid: gid) else {
                throw HubError(.groupIDNotFound, "group \(gid) does not exist")
            }
            var removed: [Int64] = []
            for id in remove where !removed.contains(id) {
                guard try await c.value(Int64.self, "SELECT 1::bigint FROM group_member WHERE gid = \(gid) AND user_id = \(id)") != nil else {
                    throw HubError(.notAMember, "\(try await Self.name(c, id)) is not a member of group \(gid)")
                }
                if id == group.ownerID {
                    throw HubError.invalid("remove", "the owner cannot be removed; transfer the group first")
                }
                try await c.run("DELETE FROM group_member WHERE gid = \(gid) AND user_id = \(id)")
                removed.append(id)
            }
            var added: [Int64] = []
            for id in add {
                let present = try await c.value(Int64.self, "SELECT 1::bigint FROM group_member WHERE gid = \(gid) AND user_id = \(id)") != nil
                guard !present, !added.contains(id) else {
                    throw HubError(.memberAlreadyAdded, "\(try await Self.name(c, id)) is already a member of group \(gid)")
                }
                try await c.run("INSERT INTO group_member (gid, user_id, joined) VALUES (\(gid), \(id), \(now))")
                added.append(id)
            }
            let count = try await c.value(Int64.self, "SELECT COUNT(*) FROM group_member WHERE gid = \(gid)") ?? 0
            guard count <= group.maxMemberCount else {
                throw HubError(.groupFull, "group \(gid) holds at most \(group.maxMemberCount) members; this would make \(count)")
            }
            if !added.isEmpty || !removed.isEmpty {
                try await c.run("UPDATE grp SET mtime = \(now) WHERE gid = \(gid)")
            }
            return (added, removed)
        }
        return (added, removed)
    }

    /// One page of an app's groups.
    public func listGroups(appKey: String, start: Int, count: Int) async throws -> Page<Group> {
        try await database.read { c in
            let total = try await c.value(Int64.self, "SELECT COUNT(*) FROM grp WHERE appkey = \(appKey)") ?? 0
            var binds = PostgresBindings()
            binds.append(appKey)
            binds.append(Int64(count))
            binds.append(Int64(start))
            let rows = try await c.rows(PostgresQuery(
                unsafeSQL: "SELECT \(Self.groupColumns) WHERE grp.appkey = $1 ORDER BY grp.gid LIMIT $2 OFFSET $3", binds: binds))
            return Page(total: Int(total), items: try rows.map(Self.group(from:)))
        }
    }

    /// The groups of an account.
    public func groups(ofUser userID: Int64) async throws -> [Group] {
        try await database.read { c in
            try await c.rows(PostgresQuery(
                unsafeSQL: "SELECT \(Self.groupColumns) JOIN group_member AS m ON m.gid = grp.gid WHERE m.user_id = $1 ORDER BY grp.gid",
                binds: Self.bindings(userID))).map(Self.group(from:))
        }
    }

    /// Silences or unsilences members.
    public func setSilenced(gid: Int64, userIDs: [Int64], _ silenced: Bool) async throws {
        try await database.write { c in
            for id in userIDs {
                let changed = try await c.run("""
                    UPDATE group_member SET silenced = \(silenced) WHERE gid = \(gid) AND user_id = \(id) RETURNING 1
                    """)
                guard changed == 1 else { throw HubError(.notAMember, "\(try await Self.name(c, id)) is not a member of group \(gid)") }
            }
        }
    }

    /// Makes a member the owner.
    public func transferOwner(gid: Int64, to userID: Int64, now: Int64) async throws {
        try await database.write { c in
            guard try await c.value(Int64.self, "SELECT 1::bigint FROM group_member WHERE gid = \(gid) AND user_id = \(userID)") != nil else {
                throw HubError(.notAMember, "the new owner must be a member of group \(gid)")
            }
            try await c.run("UPDATE grp SET owner_id = \(userID), mtime = \(now) WHERE gid = \(gid)")
        }
    }

    // MARK: Relations

    /// Adds friends both ways.
    public func addFriends(userID: Int64, _ friendIDs: [Int64], now: Int64) async throws {
        try await database.write { c in
            for id in friendIDs {
                guard id != userID else { throw HubError.invalid("users", "a user cannot befriend itself") }
                guard try await c.value(Int64.self, "SELECT 1::bigint FROM friend WHERE user_id = \(userID) AND friend_id = \(id)") == nil else {
                    throw HubError(.friendExists, "\(try await Self.name(c, id)) is already a friend")
                }
                try await c.run("""
                    INSERT INTO friend (user_id, friend_id, ctime) VALUES (\(userID), \(id), \(now)), (\(id), \(userID), \(now))
                    ON CONFLICT DO NOTHING
                    """)
            }
        }
    }

    /// Ends friendships both ways.
    public func removeFriends(userID: Int64, _ friendIDs: [Int64]) async throws {
        try await database.write { c in
            for id in friendIDs {
                let changed = try await c.run("DELETE FROM friend WHERE user_id = \(userID) AND friend_id = \(id) RETURNING 1")
                guard changed == 1 else { throw HubError(.notAFriend, "\(try await Self.name(c, id)) is not a friend") }
                try await c.run("DELETE FROM friend WHERE user_id = \(id) AND friend_id = \(userID)")
            }
        }
    }

    /// Changes notes about friends.
    public func updateFriends(userID: Int64, _ notes: [(friendID: Int64, noteName: String?, others: String?)]) async throws {
        let notes = notes.map { FriendNoteChange(friendID: $0.friendID, noteName: $0.noteName, others: $0.others) }
        try await database.write { c in
            for note in notes {
                let changed = try await c.run("""
                    UPDATE friend SET note_name = COALESCE(\(note.noteName), note_name), others = COALESCE(\(note.others), others)
                    WHERE user_id = \(userID) AND friend_id = \(note.friendID) RETURNING 1
                    """)
                guard changed == 1 else { throw HubError(.notAFriend, "\(try await Self.name(c, note.friendID)) is not a friend") }
            }
        }
    }

    struct FriendNoteChange: Sendable {
        var friendID: Int64
        var noteName: String?
        var others: String?
    }

    /// A user's friends.
    public func friends(userID: Int64) async throws -> [Friend] {
        try await database.read { c in
            try await c.rows("""
                SELECT account.*, friend.note_name AS f_note, friend.others AS f_others, friend.ctime AS f_ctime
                FROM friend JOIN account ON account.id = friend.friend_id WHERE friend.user_id = \(userID)
                ORDER BY friend.ctime, account.id
                """).map {
                Friend(user: try Self.user(from: $0), noteName: try $0.get("f_note"), others: try $0.get("f_others"),
                       ctime: try $0.get("f_ctime"))
            }
        }
    }

    /// Adds to a blacklist.
    public func addToBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws {
        try await database.write { c in
            for id in blockedIDs {
                let changed = try await c.run("""
                    INSERT INTO blacklist (user_id, blocked_id) VALUES (\(userID), \(id)) ON CONFLICT DO NOTHING RETURNING 1
                    """)
                guard changed == 1 else { throw HubError(.alreadyBlacklisted, "\(try await Self.name(c, id)) is already on the blacklist") }
            }
        }
    }

    /// Removes from a blacklist.
    public func removeFromBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws {
        try await database.write { c in
            for id in blockedIDs {
                let changed = try await c.run("DELETE FROM blacklist WHERE user_id = \(userID) AND blocked_id = \(id) RETURNING 1")
                guard changed == 1 else { throw HubError(.notBlacklisted, "\(try await Self.name(c, id)) is not on the blacklist") }
            }
        }
    }

    /// A user's blacklist.
    public func blacklist(userID: Int64) async throws -> [User] {
        try await database.read { c in
            try await c.rows("""
                SELECT account.* FROM blacklist JOIN account ON account.id = blacklist.blocked_id
                WHERE blacklist.user_id = \(userID) ORDER BY account.id
                """).map(Self.user(from:))
        }
    }

    /// Applies no-disturb changes.
    public func changeNoDisturb(userID: Int64, addSingles: [Int64], removeSingles: [Int64], addGroups: [Int64],
                                removeGroups: [Int64], global: Bool?) async throws {
        try await database.write { c in
            func insert(_ kind: String, _ target: Int64) async throws {
                try await c.run("""
                    INSERT INTO nodisturb (user_id, kind, target) VALUES (\(userID), \(kind), \(target)) ON CONFLICT DO NOTHING
                    """)
            }
            func delete(_ kind: String, _ target: Int64) async throws {
                try await c.run("DELETE FROM nodisturb WHERE user_id = \(userID) AND kind = \(kind) AND target = \(target)")
            }
            for id in addSingles { try await insert("single", id) }
            for id in removeSingles { try await delete("single", id) }
            for gid in addGroups { try await insert("group", gid) }
            for gid in removeGroups { try await delete("group", gid) }
            if let global {
                if global { try await insert("global", 0) } else { try await delete("global", 0) }
            }
        }
    }

    /// Shields and unshields groups.
    public func changeGroupShield(userID: Int64, add: [Int64], remove: [Int64]) async throws {
        try await database.write { c in
            for gid in add {
                try await c.run("INSERT INTO group_shield (user_id, gid) VALUES (\(userID), \(gid)) ON CONFLICT DO NOTHING")
            }
            for gid in remove {
                try await c.run("DELETE FROM group_shield WHERE user_id = \(userID) AND gid = \(gid)")
            }
        }
    }

    // MARK: Chatrooms

    static let roomColumns = """
        chatroom.*, owner.username AS owner_username,
        (SELECT COUNT(*) FROM chatroom_member AS m WHERE m.room_id = chatroom.room_id) AS member_count
        FROM chatroom JOIN account AS owner ON owner.id = chatroom.owner_id
        """

    static func room(from row: PostgresRandomAccessRow) throws -> Chatroom {
        Chatroom(roomID: try row.get("room_id"), appKey: try row.get("appkey"), ownerUsername: try row.get("owner_username"),
                 name: try row.get("name"), description: try row.get("description"),
                 memberCount: try row.get("member_count"), ctime: try row.get("ctime"))
    }

    static func fetchRoom(_ c: PostgresConnection, roomID: Int64) async throws -> Chatroom? {
        try await c.row(PostgresQuery(unsafeSQL: "SELECT \(roomColumns) WHERE chatroom.room_id = $1", binds: bindings(roomID)))
            .map(room(from:))
    }

    /// Creates a room.
    public func createRoom(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, description: String?,
                           now: Int64) async throws -> Chatroom {
        try await database.write { c in
            guard let id = try await c.value(Int64.self, """
                INSERT INTO chatroom (appkey, owner_id, name, description, ctime, mtime)
                VALUES (\(appKey), \(ownerID), \(name), \(description), \(now), \(now)) RETURNING room_id
                """) else { throw HubError.storage }
            try await c.run("""
                INSERT INTO chatroom_member (room_id, user_id, joined)
                SELECT \(id), u, \(now) FROM unnest(\([ownerID] + memberIDs)::bigint[]) AS t(u) ON CONFLICT DO NOTHING
                """)
            guard let room = try await Self.fetchRoom(c, roomID: id) else { throw HubError.storage }
            return room
        }
    }

    /// Rooms by id, in the order asked.
    public func rooms(appKey: String, ids: [Int64]) async throws -> [Chatroom] {
        try await database.read { c in
            var rooms: [Chatroom] = []
            for id in ids {
                if let room = try await Self.fetchRoom(c, roomID: id), room.appKey == appKey { rooms.append(room) }
            }
            return rooms
        }
    }

    /// One page of rooms.
    public func listRooms(appKey: String, start: Int, count: Int) async throws -> Page<Chatroom> {
        try await database.read { c in
            let total = try await c.value(Int64.self, "SELECT COUNT(*) FROM chatroom WHERE appkey = \(appKey)") ?? 0
            var binds = PostgresBindings()
            binds.append(appKey)
            binds.append(Int64(count))
            binds.append(Int64(start))
            let rows = try await c.rows(PostgresQuery(
                unsafeSQL: "SELECT \(Self.roomColumns) WHERE chatroom.appkey = $1 ORDER BY chatroom.room_id LIMIT $2 OFFSET $3",
                binds: binds))
            return Page(total: Int(total), items: try rows.map(Self.room(from:)))
        }
    }

    /// Changes a room.
    public func updateRoom(roomID: Int64, ownerID: Int64?, name: String?, description: String?, now: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE chatroom SET owner_id = COALESCE(\(ownerID), owner_id), name = COALESCE(\(name), name),
                    description = COALESCE(\(description), description), mtime = \(now) WHERE room_id = \(roomID)
                """)
            if let ownerID {
                try await c.run("""
                    INSERT INTO chatroom_member (room_id, user_id, joined) VALUES (\(roomID), \(ownerID), \(now)) ON CONFLICT DO NOTHING
                    """)
            }
        }
    }

    /// Deletes a room.
    public func deleteRoom(roomID: Int64) async throws {
        try await database.write { c in
            try await c.run("DELETE FROM chatroom_member WHERE room_id = \(roomID)")
            try await c.run("DELETE FROM chatroom WHERE room_id = \(roomID)")
        }
    }

    /// One page of a room's members.
    public func roomMembers(roomID: Int64, start: Int, count: Int) async throws -> Page<GroupMember> {
        try await database.read { c in
            let total = try await c.value(Int64.self, "SELECT COUNT(*) FROM chatroom_member WHERE room_id = \(roomID)") ?? 0
            let rows = try await c.rows("""
                SELECT account.*, m.silenced AS member_silenced, (r.owner_id = account.id) AS is_owner
                FROM chatroom_member AS m JOIN account ON account.id = m.user_id JOIN chatroom AS r ON r.room_id = m.room_id
                WHERE m.room_id = \(roomID) ORDER BY m.joined, account.id LIMIT \(Int64(count)) OFFSET \(Int64(start))
                """)
            return Page(total: Int(total), items: try rows.map(Self.member(from:)))
        }
    }

    /// Member ids of a room.
    public func roomMemberIDs(roomID: Int64) async throws -> [Int64] {
        try await database.read { c in
            try await c.values(Int64.self, "SELECT user_id FROM chatroom_member WHERE room_id = \(roomID) ORDER BY user_id")
        }
    }

    /// Whether an account is in a room.
    public func roomMembership(roomID: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool) {
        let silenced = try await database.read { c in
            try await c.value(Bool.self, "SELECT silenced FROM chatroom_member WHERE room_id = \(roomID) AND user_id = \(userID)")
        }
        guard let silenced else { return (false, false) }
        return (true, silenced)
    }

    /// Adds room members.
    public func addRoomMembers(roomID: Int64, _ userIDs: [Int64], now: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO chatroom_member (room_id, user_id, joined)
                SELECT \(roomID), u, \(now) FROM unnest(\(userIDs)::bigint[]) AS t(u) ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Removes room members.
    public func removeRoomMembers(roomID: Int64, _ userIDs: [Int64]) async throws {
        try await database.write { c in
            for id in userIDs {
                let changed = try await c.run("DELETE FROM chatroom_member WHERE room_id = \(roomID) AND user_id = \(id) RETURNING 1")
                guard changed == 1 else { throw HubError(.notInRoom, "\(try await Self.name(c, id)) is not in chatroom \(roomID)") }
            }
        }
    }

    /// Silences a room member.
    public func setRoomSilenced(roomID: Int64, userID: Int64, _ silenced: Bool) async throws {
        try await database.write { c in
            let changed = try await c.run("""
                UPDATE chatroom_member SET silenced = \(silenced) WHERE room_id = \(roomID) AND user_id = \(userID) RETURNING 1
                """)
            guard changed == 1 else { throw HubError(.notInRoom, "\(try await Self.name(c, userID)) is not in chatroom \(roomID)") }
        }
    }

    // MARK: Moderation

    /// Adds sensitive words.
    public func addSensitiveWords(appKey: String, _ words: [String], now: Int64) async throws {
        try await database.write { c in
            for word in words {
                try await c.run("""
                    INSERT INTO sensitive_word (appkey, word, ctime) VALUES (\(appKey), \(word), \(now)) ON CONFLICT DO NOTHING
                    """)
            }
        }
    }

    /// Replaces a sensitive word.
    public func replaceSensitiveWord(appKey: String, old: String, new: String, now: Int64) async throws -> Bool {
        try await database.write { c in
            guard try await c.run("DELETE FROM sensitive_word WHERE appkey = \(appKey) AND word = \(old) RETURNING 1") == 1 else {
                return false
            }
            try await c.run("""
                INSERT INTO sensitive_word (appkey, word, ctime) VALUES (\(appKey), \(new), \(now)) ON CONFLICT DO NOTHING
                """)
            return true
        }
    }

    /// Deletes a sensitive word.
    public func deleteSensitiveWord(appKey: String, _ word: String) async throws -> Bool {
        try await database.write { c in
            try await c.run("DELETE FROM sensitive_word WHERE appkey = \(appKey) AND word = \(word) RETURNING 1") == 1
        }
    }

    /// One page of sensitive words, in the same (byte) order as the SQLite store.
    public func sensitiveWords(appKey: String, start: Int, count: Int) async throws -> Page<String> {
        try await database.read { c in
            let total = try await c.value(Int64.self, "SELECT COUNT(*) FROM sensitive_word WHERE appkey = \(appKey)") ?? 0
            let words = try await c.values(String.self, """
                SELECT word FROM sensitive_word WHERE appkey = \(appKey) ORDER BY word COLLATE "C"
                LIMIT \(Int64(count)) OFFSET \(Int64(start))
                """)
            return Page(total: Int(total), items: words)
        }
    }

    /// Turns the filter on or off.
    public func setSensitiveFilter(appKey: String, _ on: Bool) async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO app_state (appkey, sensitive_filter) VALUES (\(appKey), \(on))
                ON CONFLICT (appkey) DO UPDATE SET sensitive_filter = excluded.sensitive_filter
                """)
        }
    }

    /// Whether the filter is on.
    public func sensitiveFilter(appKey: String) async throws -> Bool {
        try await database.read { c in
            try await c.value(Bool.self, "SELECT sensitive_filter FROM app_state WHERE appkey = \(appKey)") ?? false
        }
    }

    /// A message with its sender and retraction flag.
    public func messageRecord(msgID: Int64) async throws -> MessageRecord? {
        try await database.read { c in
            guard let row = try await c.row("""
                SELECT msg_id, msg_ctime, body, sender_user_id, retracted FROM message WHERE msg_id = \(msgID)
                """) else { return nil }
            return MessageRecord(stored: try Self.stored(from: row), senderUserID: try row.get("sender_user_id"),
                                 retracted: try row.get("retracted"))
        }
    }

    /// Marks a message retracted.
    public func markRetracted(msgID: Int64) async throws -> [Int64] {
        try await database.write { c in
            try await c.run("UPDATE message SET retracted = true WHERE msg_id = \(msgID)")
            return try await c.values(Int64.self, "SELECT DISTINCT user_id FROM inbox WHERE msg_id = \(msgID) ORDER BY user_id")
        }
    }

    /// Stores an event in inboxes (each recipient once).
    public func appendEvent(_ event: ChatEvent, recipients: [Int64], expiresAt: Int64?) async throws -> [(userID: Int64, seq: Int64)] {
        var seen = Set<Int64>()
        let unique = recipients.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return [] }
        let blob = ByteBuffer(bytes: event.json.serialized())
        let seqs = try await database.write { c in
            // The clock row first, as appends take it (then the inbox heads): the event is logged in commit order
            // with the messages (`PostgresHubStore+Log.swift`).
            _ = try await c.run("SELECT 1 FROM message_clock WHERE id = 1 FOR UPDATE")
            let seqs = try await Self.takeSeqs(c, for: unique)
            try await c.run("""
                INSERT INTO inbox (user_id, seq, msg_id, expires_at, event)
                SELECT u, s, 0, \(expiresAt), \(blob) FROM unnest(\(unique)::bigint[], \(seqs)::bigint[]) AS t(u, s)
                """)
            try await Self.logEvent(c, event, recipients: unique, blob: blob)
            return seqs
        }
        return zip(unique, seqs).map { (userID: $0, seq: $1) }
    }
}
