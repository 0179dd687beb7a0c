/// Reads one account's inbox in order from a position: the entries stored after it, then live entries from the
/// bus, reading any gap from the store; each entry once, none skipped (only expired entries leave real gaps).
///
/// Whoever delivers an inbox reads it through this one reader: a gateway session and an embedded bot's in-process
/// connection, each with a ``DirectInbox`` as its feed (which delivers live entries itself while the reader waits).
/// Subscribe to ``Hub/bus`` *before* creating the reader, so that nothing committed between the subscription and
/// the first store read is missed; entries seen twice (in the store and on the bus) are dropped.
///
/// ```swift
/// let live = DirectInbox(sink: sink)
/// let subscription = hub.bus.subscribe(userID: user.id, receiver: live)
/// var reader = InboxReader(hub: hub, userID: user.id, after: cursor, feed: DirectInbox.Feed(live: live))
/// while let entry = try await reader.next() { deliver(entry) }   // what the sink did not take
/// ```
public struct InboxReader<Feed: InboxLiveFeed> {
    /// A read from the store in progress: the backlog (`target` nil: until the store has nothing more) or a gap
    /// the bus skipped (until `target`).
    private struct CatchUp {
        var target: Int64?
        var exhausted = false
    }

    let hub: Hub
    let userID: Int64
    let batch: Int
    private var live: Feed
    /// The sequence number of the last entry returned (the starting position before the first).
    public private(set) var last: Int64
    private var page: [InboxEntry] = []
    private var pageIndex = 0
    private var catchUp: CatchUp? = CatchUp()
    /// A live entry that arrived after a gap, returned once the gap is read.
    private var held: InboxEntry?

    /// Creates a reader of `userID`'s inbox after `after`, reading the store `batch` entries at a time, with live
    /// entries from `feed`, a subscription taken before.
    public init(hub: Hub, userID: Int64, after: Int64, feed: Feed, batch: Int = 256) {
        self.hub = hub
        self.userID = userID
        self.batch = max(batch, 1)
        self.live = feed
        self.last = after
    }

    /// Creates a reader that continues where an earlier reader of the same live inbox handed over at `position` (its
    /// feed delivered through there by itself) with `entry`, the first live entry the feed did not deliver: any gap
    /// before `entry` is read from the store, then `entry` is returned. See ``DirectInbox/ParkingFeed``.
    public init(hub: Hub, userID: Int64, resumingAt position: Int64, with entry: InboxEntry, feed: Feed,
                batch: Int = 256) {
        self.init(hub: hub, userID: userID, after: position, feed: feed, batch: batch)
        held = entry
        catchUp = entry.seq > position + 1 ? CatchUp(target: entry.seq - 1) : nil
    }

    /// The next entry; `nil` when the subscription ends (the task was cancelled). Throws when the store fails.
    public mutating func next() async throws(HubError) -> InboxEntry? {
        while true {
            if pageIndex < page.count {
                let entry = page[pageIndex]
                pageIndex += 1
                guard entry.seq > last else { continue }
                last = entry.seq
                return entry
            }
            if var current = catchUp {
                let position = last
                if !current.exhausted, current.target.map({ position < $0 }) ?? true {
                    let entries = try await hub.inbox(userID: userID, after: position, limit: batch)
                    current.exhausted = entries.count < batch
                    catchUp = current
                    page = entries
                    pageIndex = 0
                    continue
                }
                catchUp = nil
                page = []
                pageIndex = 0
            }
            if let entry = held {
                held = nil
                guard entry.seq > last else { continue }
                last = entry.seq
                return entry
            }
            guard let (entry, position) = await live.next(readerAt: last) else { return nil }
            // Entries through `position` reached the client without this reader (the feed wrote them itself).
            last = max(last, position)
            if entry.seq <= last { continue }
            // Missed signals (a subscriber that fell behind loses the oldest) leave a gap: read it from the store.
            if entry.seq > last + 1 {
                held = entry
                catchUp = CatchUp(target: entry.seq - 1)
                continue
            }
            last = entry.seq
            return entry
        }
    }
}

extension InboxReader where Feed == AsyncStream<InboxEntry>.Iterator {
    /// Creates a reader of `userID`'s inbox after `after`, reading the store `batch` entries at a time, on a
    /// subscription taken before.
    public init(hub: Hub, userID: Int64, after: Int64, live: AsyncStream<InboxEntry>, batch: Int = 256) {
        self.init(hub: hub, userID: userID, after: after, feed: live.makeAsyncIterator(), batch: batch)
    }
}

/// Where an ``InboxReader`` waits for live entries once it has read everything stored.
public protocol InboxLiveFeed {
    /// The next live entry, nil once the subscription ended. `position` is the last entry the reader returned, and
    /// the reader has nothing else to return meanwhile. With the entry comes the position the feed delivered through
    /// by itself while the reader waited (`position` when it delivered nothing), which the reader moves to.
    mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)?
}

extension AsyncStream<InboxEntry>.Iterator: InboxLiveFeed {
    /// The stream's next entry; a stream delivers nothing by itself.
    public mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)? {
        guard let entry = await next() else { return nil }
        return (entry, position)
    }
}
