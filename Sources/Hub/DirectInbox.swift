import Synchronization

/// Where a ``DirectInbox`` puts entries itself: a session's socket, an in-process bot's inbox.
public protocol DirectInboxSink: Sendable {
    /// Whether the sink takes an entry now (the socket is writable, the bot's window has room).
    var canTake: Bool { get }
    /// Takes `entry`, the next in order. Called under the inbox's lock, so entries published at once on two threads
    /// reach the sink in order; keep it short.
    func take(_ entry: InboxEntry)
}

/// A live inbox the bus calls on the store's writer right after the commit. While the reading task is caught up and
/// the sink takes entries, each entry goes to the sink from that call, with no task woken per delivery. Anything else
/// (an entry out of order, a sink that takes no more, entries arriving while the task works through the backlog or a
/// gap) is queued for the task, which reads it through ``InboxReader`` as ``Feed`` and so keeps every guarantee of
/// the reader: each entry once, in order, gaps read from the store.
///
/// The two ways take turns under one lock: the task hands over (``Feed/next(readerAt:)``) only with its queue empty
/// and everything before delivered, and takes back the first entry the direct way cannot deliver, with the position
/// the direct way reached. Subscribe it to the bus (``InboxNotificationBus/subscribe(userID:receiver:)``) before the
/// backlog is read.
///
/// A reader need not wait at all: with ``ParkingFeed`` its task ends when it hands over, and the first entry the
/// direct way cannot deliver starts a new one (``InboxReader/init(hub:userID:resumingAt:with:feed:batch:)``), so an
/// idle gateway session keeps no task.
public final class DirectInbox<Sink: DirectInboxSink>: InboxReceiver {
    /// The task waiting for an entry: given it with the position the direct way reached, or nil at the end.
    public typealias Waiter = CheckedContinuation<(entry: InboxEntry, position: Int64)?, Never>

    fileprivate struct State {
        /// Whether the task is waiting and entries in order go straight to the sink.
        var direct = false
        /// The highest sequence number the direct way delivered (meaningful while `direct`, and handed to the task).
        var last: Int64 = 0
        /// Entries for the task, oldest first; at most `bufferSize` (the oldest are dropped: the task reads the gap
        /// from the store).
        var queue: [InboxEntry] = []
        var queueStart = 0
        /// The task waiting for an entry.
        var waiter: Waiter?
        /// What starts a reading task when the direct way cannot deliver, if the last one parked instead of waiting.
        var restart: (@Sendable (InboxEntry, Int64) -> Void)?
        var finished = false
    }

    private let state = Mutex(State())
    private let sink: Sink
    private let bufferSize: Int

    /// A live inbox delivering to `sink`, keeping at most `bufferSize` entries for the task.
    public init(sink: Sink, bufferSize: Int = 1024) {
        self.sink = sink
        self.bufferSize = max(bufferSize, 1)
    }

    /// Whether the task has handed live entries to the direct way (tests).
    public var isDirect: Bool { state.withLock { $0.direct } }

    /// A committed entry, on the publisher's thread.
    public func receive(_ entry: InboxEntry) {
        let resume = state.withLock { s -> (TakeOver, Int64)? in
            if s.finished { return nil }
            if s.direct {
                if entry.seq <= s.last { return nil }
                if entry.seq == s.last + 1, sink.canTake {
                    s.last = entry.seq
                    sink.take(entry)
                    return nil
                }
                // Out of order or the sink takes no more: the task takes over from here.
                s.direct = false
                if let waiter = s.waiter {
                    s.waiter = nil
                    return (.waiter(waiter), s.last)
                }
                if let restart = s.restart {
                    s.restart = nil
                    return (.restart(restart), s.last)
                }
            }
            if s.queue.count - s.queueStart >= bufferSize { s.queueStart += 1 }
            if s.queueStart >= bufferSize {
                s.queue.removeFirst(s.queueStart)
                s.queueStart = 0
            }
            s.queue.append(entry)
            return nil
        }
        switch resume {
        case (.waiter(let waiter), let position)?: waiter.resume(returning: (entry, position))
        case (.restart(let restart), let position)?: restart(entry, position)
        case nil: break
        }
    }

    /// Who takes over from the direct way: the task waiting, or a new one.
    private enum TakeOver {
        case waiter(Waiter)
        case restart(@Sendable (InboxEntry, Int64) -> Void)
    }

    /// Ends the live inbox: the waiting task gets nil, and nothing is delivered any more.
    public func finish() {
        let waiter = state.withLock { s -> Waiter? in
            s.finished = true
            s.direct = false
            s.queue = []
            s.queueStart = 0
            s.restart = nil
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The task's side, an ``InboxLiveFeed`` for its ``InboxReader``.
    public struct Feed: InboxLiveFeed {
        let live: DirectInbox

        /// The task's feed of `live`.
        public init(live: DirectInbox) {
            self.live = live
        }

        /// The next queued entry, or, with none queued, hands delivery to the direct way and waits for the first
        /// entry it cannot deliver (with the position it reached); nil once the inbox ends or the task is cancelled.
        public mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)? {
            let live = self.live
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (c: Waiter) in
                    let ready = live.state.withLock { s -> (entry: InboxEntry, position: Int64)?? in
                        if s.finished { return .some(nil) }
                        if let entry = s.dequeue() { return .some((entry, position)) }
                        s.direct = true
                        s.last = position
                        s.waiter = c
                        return .none
                    }
                    if let ready { c.resume(returning: ready) }
                }
            } onCancel: {
                live.finish()
            }
        }
    }

    /// The next queued entry, or, with none queued, hands delivery to the direct way: `restart` is then called (on the
    /// publisher's thread, with the entry and the position the direct way reached) for the first entry it cannot
    /// deliver. Nil once the inbox ended or when delivery was handed over.
    func park(at position: Int64, restart: @escaping @Sendable (InboxEntry, Int64) -> Void)
        -> (entry: InboxEntry, position: Int64)? {
        state.withLock { s in
            if s.finished { return nil }
            if let entry = s.dequeue() { return (entry, position) }
            s.direct = true
            s.last = position
            s.restart = restart
            return nil
        }
    }

    /// A reading task's feed that hands over instead of waiting: when nothing is queued and the sink takes entries,
    /// ``park(at:restart:)`` hands delivery to the direct way and the reader returns nil, so the task can end;
    /// `restart` starts the next reader (see ``InboxReader/init(hub:userID:resumingAt:with:feed:batch:)``) when the
    /// direct way cannot deliver.
    public struct ParkingFeed: InboxLiveFeed {
        let live: DirectInbox
        let restart: @Sendable (InboxEntry, Int64) -> Void
        /// The feed of a reading task of `live` that ends when it hands over; `restart` is called with the first entry
        /// the direct way cannot deliver and the position it reached.
        public init(live: DirectInbox, restart: @escaping @Sendable (InboxEntry, Int64) -> Void) {
            self.live = live
            self.restart = restart
        }
        /// The next queued entry; nil when delivery was handed over (or the inbox ended). While the sink takes
        /// nothing (a full socket, and a session that has fallen back for good to writes that wait for the socket), the task
        /// waits as a ``Feed``'s does instead: parked, each entry would start a task of its own.
        public mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)? {
            if live.sink.canTake { return live.park(at: position, restart: restart) }
            var waiting = Feed(live: live)
            return await waiting.next(readerAt: position)
        }
    }
}

extension DirectInbox.State {
    /// Takes the oldest queued entry.
    fileprivate mutating func dequeue() -> InboxEntry? {
        guard queueStart < queue.count else { return nil }
        let entry = queue[queueStart]
        queueStart += 1
        if queueStart == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueStart = 0
        }
        return entry
    }
}
