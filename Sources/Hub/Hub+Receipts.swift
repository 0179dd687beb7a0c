/// What the push bridge needs of the hub beyond sending: where a message landed in an inbox, a per-entry
/// time to live, and how far an account's devices have acknowledged.
extension Hub {
    /// The sequence number of message `msgID` in the inbox of `userID`, or `nil` when it has no entry there
    /// (sent online-only to an offline account, or purged after expiring).
    public func inboxSeq(userID: Int64, msgID: Int64) async throws(HubError) -> Int64? {
        try await storing { try await store.inboxSeq(userID: userID, msgID: msgID) }
    }

    /// Makes one inbox entry expire at `expiresAt` (ms) instead of after the app's offline TTL.
    public func setInboxExpiry(userID: Int64, seq: Int64, expiresAt: Int64) async throws(HubError) {
        try await storing { try await store.setInboxExpiry(userID: userID, seq: seq, expiresAt: expiresAt) }
    }

    /// The highest sequence number acknowledged by any device of `userID`; an entry at or below it was received.
    public func highestAcknowledged(userID: Int64) async throws(HubError) -> Int64 {
        try await storing { try await store.highestCursor(userID: userID) }
    }
}
