import IMProtocol

extension Hub {
    /// Changes the profile fields given in `patch` (`nil` fields are left as they are).
    public func updateUser(appKey: String, username: String, patch: Profile) async throws(HubError) -> User {
        var account = try await user(appKey: appKey, username: username)
        var p = account.profile
        if let v = patch.nickname { p.nickname = v }
        if let v = patch.avatar { p.avatar = v }
        if let v = patch.birthday { p.birthday = v }
        if let v = patch.gender { p.gender = v }
        if let v = patch.signature { p.signature = v }
        if let v = patch.region { p.region = v }
        if let v = patch.address { p.address = v }
        if let v = patch.extras { p.extras = v }
        let time = now()
        try await storing { try await store.updateProfile(userID: account.id, profile: p, now: time) }
        account.profile = p
        account.mtime = time
        return account
    }

    /// Deletes accounts (all must exist, or nothing is deleted); their messages stay in the history.
    public func deleteUsers(appKey: String, usernames: [String]) async throws(HubError) {
        let accounts = try await users(appKey: appKey, usernames: usernames)
        try await storing { try await store.deleteUsers(accounts.map(\.id), now: now()) }
    }

    /// One page of an app's accounts of the given kinds.
    public func listUsers(appKey: String, kinds: [FromType], start: Int, count: Int) async throws(HubError) -> Page<User> {
        try await storing { try await store.listUsers(appKey: appKey, kinds: kinds, start: start, count: count) }
    }

    /// Sets a new password.
    public func changePassword(appKey: String, username: String, to password: String) async throws(HubError) {
        let account = try await user(appKey: appKey, username: username)
        try Self.validate(password: password)
        let hash = try await hashPassword(password)
        try await storing { try await store.setPasswordHash(userID: account.id, hash: hash, now: now()) }
    }

    /// Forbids an account (it can neither log in nor send; a session already open is refused at its next send) or allows it again.
    public func setForbidden(appKey: String, username: String, _ forbidden: Bool) async throws(HubError) {
        let account = try await user(appKey: appKey, username: username)
        try await storing { try await store.setForbidden(userID: account.id, forbidden, now: now()) }
    }
}
