import IMProtocol
import Logging

extension Hub {
    /// Creates a group owned by `new.owner` with its first members, all in `appKey`; members get a `group_created`
    /// event. 899002 for an unknown user, 899012 when the members exceed the app's `max_group_members`.
    public func createGroup(appKey: String, _ new: NewGroup) async throws(HubError) -> Group {
        guard let app = apps[appKey] else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        guard !new.name.isEmpty, new.name.utf8.count <= 64 else { throw HubError.invalid("name", "must be 1 to 64 bytes") }
        if let desc = new.desc, desc.utf8.count > 250 { throw HubError.invalid("desc", "longer than 250 bytes") }
        guard new.flag == 1 || new.flag == 2 else { throw HubError.invalid("flag", "must be 1 (private) or 2 (public)") }
        let owner = try await user(appKey: appKey, username: new.owner)
        let members = try await users(appKey: appKey, usernames: new.members)
        let group = try await storing {
            try await store.createGroup(appKey: appKey, ownerID: owner.id, memberIDs: members.map(\.id), name: new.name,
                                        desc: new.desc, avatar: new.avatar, flag: new.flag, maxMembers: app.maxGroupMembers,
                                        now: now())
        }
        let all = [owner] + members.filter { $0.id != owner.id }
        await emit(ChatEvent(kind: .groupCreated, appKey: appKey, gid: group.gid, usernames: all.map(\.username),
                             by: owner.username, ctime: group.ctime), to: all.map(\.id))
        return group
    }

    /// The group with this gid in this app, or 899006 (`groupIDNotFound`).
    public func group(appKey: String, gid: Int64) async throws(HubError) -> Group {
        guard let g = try await storing({ try await store.group(gid: gid) }), g.appKey == appKey else {
            throw HubError(.groupIDNotFound, "group \(gid) does not exist in app \(appKey)")
        }
        return g
    }

    /// Reads a gid from its text form, then the group.
    func group(gidString: String, field: String) async throws(HubError) -> Group {
        guard let gid = Int64(gidString), gid > 0 else { throw HubError.invalid(field, "'\(gidString)' is not a group id") }
        guard let g = try await storing({ try await store.group(gid: gid) }) else {
            throw HubError(.groupIDNotFound, "group \(gid) does not exist")
        }
        return g
    }

    /// Changes a group's name, description or avatar; members get a `group_updated` event.
    public func updateGroup(appKey: String, gid: Int64, name: String?, desc: String?, avatar: String?) async throws(HubError) {
        let g = try await group(appKey: appKey, gid: gid)
        if let name, name.isEmpty || name.utf8.count > 64 { throw HubError.invalid("name", "must be 1 to 64 bytes") }
        if let desc, desc.utf8.count > 250 { throw HubError.invalid("desc", "longer than 250 bytes") }
        try await storing { try await store.updateGroup(gid: g.gid, name: name, desc: desc, avatar: avatar, now: now()) }
        let members = try await storing { try await store.memberIDs(gid: g.gid) }.map(\.userID)
        await emit(ChatEvent(kind: .groupUpdated, appKey: appKey, gid: g.gid, ctime: now()), to: members)
    }

    /// Deletes a group; its members get a last `group_deleted` event.
    public func deleteGroup(appKey: String, gid: Int64) async throws(HubError) {
        let g = try await group(appKey: appKey, gid: gid)
        let members = try await storing { try await store.deleteGroup(gid: g.gid) }
        await emit(ChatEvent(kind: .groupDeleted, appKey: appKey, gid: g.gid, ctime: now()), to: members)
    }

    /// The members of a group, owner first.
    public func members(appKey: String, gid: Int64) async throws(HubError) -> [GroupMember] {
        let g = try await group(appKey: appKey, gid: gid)
        return try await storing { try await store.members(gid: g.gid) }
    }

    /// Adds and removes members of the group's own app (both lists atomically); members old and new get
    /// `group_members_added` / `group_members_removed` events.
    public func changeMembers(appKey: String, gid: Int64, add: [String], remove: [String]) async throws(HubError) {
        try await changeMembers(appKey: appKey, gid: gid, changes: [(appKey, add, remove)])
    }

    /// Adds and removes members from several apps at once (the cross-app API): a user of another app may join only
    /// when that app allows the group's app in its `cross_app` list (899020 otherwise).
    public func changeMembers(appKey: String, gid: Int64,
                              changes: [(appKey: String, add: [String], remove: [String])]) async throws(HubError) {
        let g = try await group(appKey: appKey, gid: gid)
        var add: [User] = [], remove: [User] = []
        for change in changes {
            guard let memberApp = apps[change.appKey] else {
                throw HubError(.appKeyNotFound, "appkey \(change.appKey) does not exist")
            }
            if change.appKey != appKey, !change.add.isEmpty, !memberApp.crossApp.contains(appKey) {
                throw HubError(.crossAppNotPermitted, "app \(change.appKey) does not allow app \(appKey) to add its users")
            }
            add += try await users(appKey: change.appKey, usernames: change.add)
            remove += try await users(appKey: change.appKey, usernames: change.remove)
        }
        let result = try await storing {
            try await store.changeMembers(gid: g.gid, add: add.map(\.id), remove: remove.map(\.id), now: now())
        }
        let members = try await storing { try await store.memberIDs(gid: g.gid) }.map(\.userID)
        let time = now()
        if !result.removed.isEmpty {
            let gone = remove.filter { result.removed.contains($0.id) }
            await emit(ChatEvent(kind: .groupMembersRemoved, appKey: appKey, gid: g.gid, usernames: gone.map(\.username),
                                 userAppKeys: Self.foreignAppKeys(gone, appKey: appKey), ctime: time),
                       to: members + result.removed)
        }
        if !result.added.isEmpty {
            let new = add.filter { result.added.contains($0.id) }
            await emit(ChatEvent(kind: .groupMembersAdded, appKey: appKey, gid: g.gid, usernames: new.map(\.username),
                                 userAppKeys: Self.foreignAppKeys(new, appKey: appKey), ctime: time), to: members)
        }
    }

    static func foreignAppKeys(_ users: [User], appKey: String) -> [String: String] {
        Dictionary(users.filter { $0.appKey != appKey }.map { ($0.username, $0.appKey) }, uniquingKeysWith: { a, _ in a })
    }

    /// One page of an app's groups.
    public func listGroups(appKey: String, start: Int, count: Int) async throws(HubError) -> Page<Group> {
        try await storing { try await store.listGroups(appKey: appKey, start: start, count: count) }
    }

    /// The groups an account belongs to.
    public func groups(of user: User) async throws(HubError) -> [Group] {
        try await storing { try await store.groups(ofUser: user.id) }
    }

    /// Silences (`true`) or lets speak again members of a group; members get an event.
    public func silence(appKey: String, gid: Int64, usernames: [String], _ silenced: Bool) async throws(HubError) {
        let g = try await group(appKey: appKey, gid: gid)
        let targets = try await users(appKey: appKey, usernames: usernames)
        try await storing { try await store.setSilenced(gid: g.gid, userIDs: targets.map(\.id), silenced) }
        let members = try await storing { try await store.memberIDs(gid: g.gid) }.map(\.userID)
        await emit(ChatEvent(kind: silenced ? .groupMembersSilenced : .groupMembersUnsilenced, appKey: appKey, gid: g.gid,
                             usernames: targets.map(\.username), ctime: now()), to: members)
    }

    /// Hands a group to another member (of `ownerAppKey`, the group's app by default); members get an event.
    public func transferOwner(appKey: String, gid: Int64, to username: String, ownerAppKey: String? = nil) async throws(HubError) {
        let g = try await group(appKey: appKey, gid: gid)
        let newOwner = try await user(appKey: ownerAppKey ?? appKey, username: username)
        try await storing { try await store.transferOwner(gid: g.gid, to: newOwner.id, now: now()) }
        let members = try await storing { try await store.memberIDs(gid: g.gid) }.map(\.userID)
        await emit(ChatEvent(kind: .groupOwnerChanged, appKey: appKey, gid: g.gid, usernames: [newOwner.username],
                             userAppKeys: Self.foreignAppKeys([newOwner], appKey: appKey), ctime: now()), to: members)
    }

    /// The accounts with these usernames, in the order given; 899002 naming the first that does not exist.
    public func users(appKey: String, usernames: [String]) async throws(HubError) -> [User] {
        var seen = Set<String>()
        let unique = usernames.filter { seen.insert($0).inserted }
        let found = try await storing { try await store.users(appKey: appKey, usernames: unique) }
        let byName = Dictionary(found.map { ($0.username, $0) }, uniquingKeysWith: { a, _ in a })
        return try unique.map { name throws(HubError) in
            guard let u = byName[name] else { throw HubError.userNotFound(name, appKey: appKey) }
            return u
        }
    }

    /// Stores an event in the inboxes of `recipients` and wakes their sessions. Events are a side effect of a change
    /// already committed, so a failure to store one is logged rather than undoing the change.
    func emit(_ event: ChatEvent, to recipients: [Int64]) async {
        guard !recipients.isEmpty else { return }
        let ttl = apps[event.appKey]?.offlineTTL ?? AppSettings.defaultOfflineTTL
        do {
            let entries = try await store.appendEvent(event, recipients: recipients,
                                                      expiresAt: event.ctime + ttl.wholeMilliseconds)
            for entry in entries {
                bus.publish(userID: entry.userID, entry: InboxEntry(seq: entry.seq, event: event))
            }
        } catch {
            logger.error("could not store an event", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
        }
    }
}
