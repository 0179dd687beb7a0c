import Synchronization

/// The notification bus: "the inbox of account U has a new entry", published by the hub after each commit and
/// listened to by every session of U (a gateway connection, an in-process bot). A seam for scale-out: ``InboxBus`` is
/// the in-process one of a single node; several nodes share one through their store (PostgreSQL's LISTEN/NOTIFY).
///
/// Signals may be lost (a slow subscriber, a node that restarts): a subscriber notices the gap by sequence number and
/// reads the missing entries from the store, so the store stays the truth and nothing is lost.
public protocol InboxNotificationBus: Sendable {
    /// Subscribes to the inbox of one account; the stream ends when the subscriber stops iterating or is cancelled.
    func subscribe(userID: Int64) -> AsyncStream<InboxEntry>
    /// Signals every subscriber of `userID` that `entry` was committed.
    func publish(userID: Int64, entry: InboxEntry)
    /// How many sessions currently listen to the inbox of `userID` (the hub keeps messages without offline storage
    /// only for accounts someone listens for).
    func subscriberCount(userID: Int64) -> Int
}

/// The in-process ``InboxNotificationBus`` of one node.
///
/// Each session of an account subscribes; a publish after a commit hands the entry to every subscriber without a
/// database read. A subscriber that falls behind loses the oldest signals and notices the gap by sequence number,
/// then reads the missing entries from the store, so nothing is lost.
public final class InboxBus: InboxNotificationBus {
    private struct State {
        var nextID: Int = 0
        var subscribers: [Int64: [Int: AsyncStream<InboxEntry>.Continuation]] = [:]
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    /// Creates a bus; each subscription buffers at most `bufferSize` signals.
    public init(bufferSize: Int = 1024) {
        self.bufferSize = bufferSize
    }

    /// Subscribes to the inbox of one account; the stream ends when the subscriber stops iterating or is cancelled.
    public func subscribe(userID: Int64) -> AsyncStream<InboxEntry> {
        let (stream, continuation) = AsyncStream.makeStream(of: InboxEntry.self,
                                                            bufferingPolicy: .bufferingNewest(bufferSize))
        let id = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.subscribers[userID, default: [:]][id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in
                s.subscribers[userID]?[id] = nil
                if s.subscribers[userID]?.isEmpty == true { s.subscribers[userID] = nil }
            }
        }
        return stream
    }

    /// Signals every subscriber of `userID` that `entry` was committed.
    public func publish(userID: Int64, entry: InboxEntry) {
        let targets = state.withLock { s in s.subscribers[userID].map { Array($0.values) } ?? [] }
        for c in targets { c.yield(entry) }
    }

    /// The accounts someone listens for now (a cluster's bus checks their inboxes for signals it missed).
    public var subscribedUserIDs: [Int64] {
        state.withLock { Array($0.subscribers.keys) }
    }

    /// How many sessions currently listen to the inbox of `userID`.
    public func subscriberCount(userID: Int64) -> Int {
        state.withLock { $0.subscribers[userID]?.count ?? 0 }
    }
}
