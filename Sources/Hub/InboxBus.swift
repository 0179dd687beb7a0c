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
    /// Subscribes `receiver` to the inbox of one account: it is called on the publisher's thread, without a task
    /// hop, until the subscription is cancelled (how a gateway session writes live entries straight to its socket).
    func subscribe(userID: Int64, receiver: any InboxReceiver) -> InboxSubscription
    /// Signals every subscriber of `userID` that `entry` was committed.
    func publish(userID: Int64, entry: InboxEntry)
    /// How many sessions currently listen to the inbox of `userID` (the hub keeps messages without offline storage
    /// only for accounts someone listens for).
    func subscriberCount(userID: Int64) -> Int
}

/// Gets one account's inbox signals on the publisher's thread (the store's writer, after the commit), in the order
/// they were published for that account. It must return quickly and never block or await.
public protocol InboxReceiver: AnyObject, Sendable {
    /// `entry` was committed to the account's inbox.
    func receive(_ entry: InboxEntry)
}

/// A ``InboxNotificationBus/subscribe(userID:receiver:)`` in force until ``cancel()``.
public final class InboxSubscription: Sendable {
    private let onCancel: Mutex<(@Sendable () -> Void)?>

    /// A subscription that `onCancel` ends (run once, by the first ``cancel()``).
    public init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = Mutex(onCancel)
    }

    /// Ends the subscription: no signal reaches the receiver after this returns (one being delivered may finish).
    public func cancel() {
        let action = onCancel.withLock { (pending: inout (@Sendable () -> Void)?) -> (@Sendable () -> Void)? in
            defer { pending = nil }
            return pending
        }
        action?()
    }

    deinit { cancel() }
}

/// The in-process ``InboxNotificationBus`` of one node.
///
/// Each session of an account subscribes; a publish after a commit hands the entry to every subscriber without a
/// database read. A subscriber that falls behind loses the oldest signals and notices the gap by sequence number,
/// then reads the missing entries from the store, so nothing is lost.
public final class InboxBus: InboxNotificationBus {
    private struct State {
        var nextID: Int = 0
        var subscribers: [Int64: [Int: any InboxReceiver]] = [:]
    }

    /// A stream subscription's receiver: yields into the stream, which keeps the newest `bufferSize` signals.
    private final class StreamReceiver: InboxReceiver {
        let continuation: AsyncStream<InboxEntry>.Continuation

        init(_ continuation: AsyncStream<InboxEntry>.Continuation) {
            self.continuation = continuation
        }

        func receive(_ entry: InboxEntry) {
            continuation.yield(entry)
        }
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
        let id = add(userID: userID, StreamReceiver(continuation))
        continuation.onTermination = { [weak self] _ in self?.remove(userID: userID, id: id) }
        return stream
    }

    /// Subscribes `receiver`, called on the publisher's thread until the subscription is cancelled.
    public func subscribe(userID: Int64, receiver: any InboxReceiver) -> InboxSubscription {
        let id = add(userID: userID, receiver)
        return InboxSubscription { [weak self] in self?.remove(userID: userID, id: id) }
    }

    private func add(userID: Int64, _ receiver: any InboxReceiver) -> Int {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.subscribers[userID, default: [:]][id] = receiver
            return id
        }
    }

    private func remove(userID: Int64, id: Int) {
        state.withLock { s in
            s.subscribers[userID]?[id] = nil
            if s.subscribers[userID]?.isEmpty == true { s.subscribers[userID] = nil }
        }
    }

    /// Signals every subscriber of `userID` that `entry` was committed.
    public func publish(userID: Int64, entry: InboxEntry) {
        // The common case, one session, without an array: this runs once per delivery on the store's writer.
        let (one, more) = state.withLock { s -> ((any InboxReceiver)?, [any InboxReceiver]) in
            guard let subscribers = s.subscribers[userID] else { return (nil, []) }
            if subscribers.count == 1 { return (subscribers.first?.value, []) }
            return (nil, Array(subscribers.values))
        }
        one?.receive(entry)
        for receiver in more { receiver.receive(entry) }
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
