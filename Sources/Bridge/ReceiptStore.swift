import IMProtocol

/// A push whose receipts are still to be reported, with what was reported so far.
public struct PendingReceipts: Sendable, Equatable {
    /// The push, with its callback.
    public var push: PushRecord
    /// Whether "accepted" (type 8) was reported.
    public var acceptedReported: Bool
    /// The accounts whose "delivered" (type 1) was reported.
    public var deliveredReported: Set<Int64>
    /// Failed attempts in a row, kept with the push so that the node taking it over goes on counting.
    public var failures: Int

    /// Creates a pending push.
    public init(push: PushRecord, acceptedReported: Bool, deliveredReported: Set<Int64>, failures: Int = 0) {
        self.push = push
        self.acceptedReported = acceptedReported
        self.deliveredReported = deliveredReported
        self.failures = failures
    }
}

/// A bridge store that keeps the receipt callbacks of pushes (`callback: {url, params, type}`) as an outbox: the
/// callback is stored with its push in the push's transaction, and what was reported is recorded once the receiver
/// answered 200, so every report goes out at least once, across restarts, kill -9 and (on PostgreSQL) nodes.
///
/// Several dispatchers (one per node) share the work through claims: ``claimReceipts(owner:now:until:limit:)``
/// hands each push with something to report to one owner until its claim lapses, so a node that dies mid-way
/// leaves its pushes to another; reports are recorded once whoever posts them.
public protocol ReceiptStore: BridgeStore {
    /// Up to `limit` pushes with receipts still to report and a msg_id above `after`, oldest first (claimed or not).
    func pendingReceipts(after: Int64, limit: Int) async throws -> [PendingReceipts]

    /// Claims for `owner`, until `until` (ms), up to `limit` pushes, oldest first, that have something to do now:
    /// "accepted" not yet reported, an account's receipt not yet reported, or nothing left to wait for. A push is
    /// skipped while another owner's claim on it holds or while its retry time (``releaseReceipts``) is ahead of
    /// `now`; rows another node is claiming at the same moment are skipped, not waited for.
    func claimReceipts(owner: String, now: Int64, until: Int64, limit: Int) async throws -> [PendingReceipts]

    /// Gives `owner`'s claim on a push up: it may be claimed again from `retryAt` (ms; 0 at once) and has failed
    /// `failures` times in a row. Nothing happens when the claim is no longer `owner`'s.
    func releaseReceipts(pushID: Int64, owner: String, retryAt: Int64, failures: Int) async throws

    /// Records that "accepted" was reported.
    func acceptedReported(pushID: Int64) async throws

    /// Records that "delivered" was reported for one account (once, however often it is called).
    func deliveredReported(pushID: Int64, userID: Int64) async throws

    /// Records that nothing more will be reported for a push.
    func receiptsDone(pushID: Int64) async throws
}

extension ReceiptStore {
    /// Up to `limit` pushes with receipts still to report, oldest first.
    public func pendingReceipts(limit: Int) async throws -> [PendingReceipts] {
        try await pendingReceipts(after: 0, limit: limit)
    }
}
