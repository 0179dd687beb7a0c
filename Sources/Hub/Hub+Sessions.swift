extension Hub {
    /// Ends the gateway sessions of an account (of one device, when given): their connections close with a fatal
    /// error, and a client logs in again only by choice. Sessions without a way to end them (a bot's in-process one)
    /// are left open. Answers how many ended; an unknown account is `userNotFound`.
    public func endSessions(appKey: String, username: String, device: String?) async throws(HubError) -> Int {
        let account = try await user(appKey: appKey, username: username)
        return presence.end(userID: account.id, device: device)
    }
}
