/// A batch of message routing (or one push receipt report) set aside after too many failed attempts; `mynah
/// callbacks list` shows them and `mynah callbacks replay` sends them again.
public struct RoutingDeadLetter: Sendable, Equatable {
    /// Its id, for `replay --id`.
    public var id: Int64
    /// The destination's key (app and URL), or `receipts <appkey>` for a receipt report.
    public var destination: String
    /// The lowest msgid (or event id) in it; a receipt's push msg_id.
    public var firstMsgID: Int64
    /// The highest msgid (or event id) the batch covered.
    public var lastMsgID: Int64
    /// How many items it carries.
    public var count: Int
    /// Failed attempts so far.
    public var attempts: Int
    /// The last failure.
    public var lastError: String
    /// Whether it is marked for another delivery.
    public var replay: Bool
    /// The exact body that was POSTed.
    public var body: [UInt8]
    /// What the batch carries.
    public var kind: Kind
    /// Where a receipt report goes (routing letters go to their destination's URL).
    public var url: String?

    /// What a dead letter carries: routed messages, routed gateway events, or one push receipt report.
    public enum Kind: String, Sendable {
        /// A batch of routed messages (ids are msgids).
        case messages
        /// A batch of routed gateway events (ids are event ids).
        case events
        /// One push receipt report (the id is the push's msg_id).
        case receipt
    }

    /// Creates a dead letter as a store read it.
    public init(id: Int64, destination: String, firstMsgID: Int64, lastMsgID: Int64, count: Int, attempts: Int,
                lastError: String, replay: Bool, body: [UInt8], kind: Kind, url: String?) {
        self.id = id
        self.destination = destination
        self.firstMsgID = firstMsgID
        self.lastMsgID = lastMsgID
        self.count = count
        self.attempts = attempts
        self.lastError = lastError
        self.replay = replay
        self.body = body
        self.kind = kind
        self.url = url
    }
}

/// The durable state of message routing out of the hub: a cursor per destination into the hub's log
/// (``MessageLogStore``) and the dead letters. One node's `callbacks.sqlite` on SQLite; on PostgreSQL the cluster's
/// tables, so that the node that takes the routing lease over resumes where the last one stopped.
///
/// Nothing here is written in the hub's send transaction: a cursor moves only after its receiver answered, so a
/// crash repeats a batch at most (at least once).
public protocol RoutingStore: Sendable {
    /// The cursor of `destination`, created at `head` (the log's end: a new destination starts with what comes
    /// next) when it has none.
    func cursor(_ destination: String, startingAt head: LogPosition) async throws -> LogPosition
    /// Moves the cursor of `destination` forward to `position` (never back).
    func advance(_ destination: String, to position: LogPosition) async throws
    /// Forgets the cursor of a destination no longer configured (its dead letters stay).
    func removeCursor(_ destination: String) async throws
    /// Keeps a batch as a dead letter and, with `position`, moves the destination's cursor past it, in one
    /// transaction. `first` and `last` are msgids, event ids, or a receipt's push msg_id.
    func bury(_ destination: String, kind: RoutingDeadLetter.Kind, body: [UInt8], first: Int64, last: Int64,
              count: Int, attempts: Int, error: String, position: LogPosition?, url: String?, now: Int64) async throws
    /// The dead letters, oldest first; of one destination when `destination` is set, only those marked for replay
    /// with `replayOnly`.
    func deadLetters(destination: String?, replayOnly: Bool) async throws -> [RoutingDeadLetter]
    /// How many dead letters each destination has.
    func deadLetterCounts() async throws -> [String: Int]
    /// Marks dead letters for another delivery (all when `ids` is empty); returns how many.
    func markReplay(ids: [Int64]) async throws -> Int
    /// Records a replay's outcome: delivered (the letter is gone) or failed again (it stays, unmarked, its
    /// attempts counted).
    func replayed(_ id: Int64, delivered: Bool, error: String) async throws
}

extension RoutingStore {
    /// Every dead letter, oldest first.
    public func deadLetters() async throws -> [RoutingDeadLetter] {
        try await deadLetters(destination: nil, replayOnly: false)
    }

    /// The oldest dead letter of `destination` marked for replay.
    public func nextReplay(_ destination: String) async throws -> RoutingDeadLetter? {
        try await deadLetters(destination: destination, replayOnly: true).first
    }

    /// The dead letters of one kind marked for replay, oldest first (push receipts: their destinations vary).
    public func replays(kind: RoutingDeadLetter.Kind) async throws -> [RoutingDeadLetter] {
        try await deadLetters(destination: nil, replayOnly: true).filter { $0.kind == kind }
    }
}
