import IMProtocol

extension Hub {
    /// Makes `usernames` (of `friendAppKey`, the user's own app by default) friends of `user`, both ways; both sides
    /// get a `friend_added` event. A user of another app needs that app to allow the user's app (899020).
    public func addFriends(_ user: User, usernames: [String], friendAppKey: String? = nil) async throws(HubError) {
        let others = try await relatedUsers(of: user, usernames: usernames, appKey: friendAppKey)
        try await storing { try await store.addFriends(userID: user.id, others.map(\.id), now: now()) }
        let time = now()
        await emit(ChatEvent(kind: .friendAdded, appKey: user.appKey, usernames: others.map(\.username),
                             userAppKeys: Self.foreignAppKeys(others, appKey: user.appKey), by: user.username, ctime: time),
                   to: [user.id])
        for other in others {
            await emit(ChatEvent(kind: .friendAdded, appKey: other.appKey, usernames: [user.username],
                                 userAppKeys: Self.foreignAppKeys([user], appKey: other.appKey), by: user.username, ctime: time),
                       to: [other.id])
        }
    }

    /// Ends friendships both ways; both sides get a `friend_removed` event.
    public func removeFriends(_ user: User, usernames: [String], friendAppKey: String? = nil) async throws(HubError) {
        let others = try await relatedUsers(of: user, usernames: usernames, appKey: friendAppKey, checkCrossApp: false)
        try await storing { try await store.removeFriends(userID: user.id, others.map(\.id)) }
        let time = now()
        await emit(ChatEvent(kind: .friendRemoved, appKey: user.appKey, usernames: others.map(\.username),
                             userAppKeys: Self.foreignAppKeys(others, appKey: user.appKey), by: user.username, ctime: time),
                   to: [user.id])
        for other in others {
            await emit(ChatEvent(kind: .friendRemoved, appKey: other.appKey, usernames: [user.username],
                                 userAppKeys: Self.foreignAppKeys([user], appKey: other.appKey), by: user.username, ctime: time),
                       to: [other.id])
        }
    }

    /// Changes a user's note names and notes about friends of its own app.
    public func updateFriends(_ user: User, _ notes: [FriendNote]) async throws(HubError) {
        let others = try await users(appKey: user.appKey, usernames: notes.map(\.username))
        let ids = Dictionary(others.map { ($0.username, $0.id) }, uniquingKeysWith: { a, _ in a })
        let changes = notes.compactMap { n in ids[n.username].map { (friendID: $0, noteName: n.noteName, others: n.others) } }
        try await storing { try await store.updateFriends(userID: user.id, changes) }
    }

    /// A user's friends.
    public func friends(of user: User) async throws(HubError) -> [Friend] {
        try await storing { try await store.friends(userID: user.id) }
    }

    /// Adds users to `user`'s blacklist: their messages to `user` are refused (803008). Admins cannot be
    /// blacklisted (899018).
    public func addToBlacklist(_ user: User, usernames: [String], appKey: String? = nil) async throws(HubError) {
        let others = try await relatedUsers(of: user, usernames: usernames, appKey: appKey, checkCrossApp: false)
        if let admin = others.first(where: { $0.kind == .admin }) {
            throw HubError(.adminNotBlacklistable, "'\(admin.username)' is an admin and cannot be blacklisted")
        }
        try await storing { try await store.addToBlacklist(userID: user.id, others.map(\.id)) }
    }

    /// Removes users from `user`'s blacklist.
    public func removeFromBlacklist(_ user: User, usernames: [String], appKey: String? = nil) async throws(HubError) {
        let others = try await relatedUsers(of: user, usernames: usernames, appKey: appKey, checkCrossApp: false)
        try await storing { try await store.removeFromBlacklist(userID: user.id, others.map(\.id)) }
    }

    /// A user's blacklist.
    public func blacklist(of user: User) async throws(HubError) -> [User] {
        try await storing { try await store.blacklist(userID: user.id) }
    }

    /// One app's part of a no-disturb change: single chats by username, groups by gid.
    public struct NoDisturbChange: Sendable {
        /// The app of the usernames; the user's own app when `nil`.
        public var appKey: String?
        /// Usernames whose single messages stop or resume notifying.
        public var addSingles: [String], removeSingles: [String]
        /// Groups whose messages stop or resume notifying.
        public var addGroups: [Int64], removeGroups: [Int64]
        /// Turns the global no-disturb on or off; `nil` leaves it.
        public var global: Bool?

        /// Creates a change.
        public init(appKey: String? = nil, addSingles: [String] = [], removeSingles: [String] = [], addGroups: [Int64] = [],
                    removeGroups: [Int64] = [], global: Bool? = nil) {
            self.appKey = appKey
            self.addSingles = addSingles
            self.removeSingles = removeSingles
            self.addGroups = addGroups
            self.removeGroups = removeGroups
            self.global = global
        }
    }

    /// Applies no-disturb changes: the messages still arrive, marked `no_notification` for the user.
    public func changeNoDisturb(_ user: User, _ change: NoDisturbChange) async throws(HubError) {
        let add = try await relatedUsers(of: user, usernames: change.addSingles, appKey: change.appKey, checkCrossApp: false)
        let remove = try await relatedUsers(of: user, usernames: change.removeSingles, appKey: change.appKey, checkCrossApp: false)
        for gid in change.addGroups + change.removeGroups {
            guard try await storing({ try await store.group(gid: gid) }) != nil else {
                throw HubError(.groupIDNotFound, "group \(gid) does not exist")
            }
        }
        try await storing {
            try await store.changeNoDisturb(userID: user.id, addSingles: add.map(\.id), removeSingles: remove.map(\.id),
                                            addGroups: change.addGroups, removeGroups: change.removeGroups, global: change.global)
        }
    }

    /// Shields groups (their messages no longer reach `user`) or lifts the shield.
    public func changeGroupShield(_ user: User, add: [Int64], remove: [Int64]) async throws(HubError) {
        for gid in add + remove {
            guard try await storing({ try await store.group(gid: gid) }) != nil else {
                throw HubError(.groupIDNotFound, "group \(gid) does not exist")
            }
            let membership = try await storing { try await store.membership(gid: gid, userID: user.id) }
            guard membership.member else {
                throw HubError(.notAMember, "'\(user.username)' is not a member of group \(gid)")
            }
        }
        try await storing { try await store.changeGroupShield(userID: user.id, add: add, remove: remove) }
    }

    /// The users named, in `appKey` (the user's own app by default); another app must allow the user's app when
    /// `checkCrossApp`.
    func relatedUsers(of user: User, usernames: [String], appKey: String?, checkCrossApp: Bool = true) async throws(HubError) -> [User] {
        let otherApp = appKey ?? user.appKey
        guard let app = apps[otherApp] else { throw HubError(.appKeyNotFound, "appkey \(otherApp) does not exist") }
        if checkCrossApp, otherApp != user.appKey, !app.crossApp.contains(user.appKey) {
            throw HubError(.crossAppNotPermitted, "app \(otherApp) does not allow app \(user.appKey)")
        }
        return try await users(appKey: otherApp, usernames: usernames)
    }
}
