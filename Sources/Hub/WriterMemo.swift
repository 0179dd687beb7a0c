import GRDB

/// What `SQLiteHubStore`'s single writer remembers between sends, so a send does not read it again: the rules'
/// inputs (the sender's flags, the recipient with its relation to the sender), each inbox's head, the last
/// message's `msg_ctime`, and that the inbox queue was read empty. In the 1:1 profile those reads were a quarter of
/// the writer thread, which is the ceiling.
///
/// Touched only on GRDB's writer queue (the sends' work and this observer's callbacks run there), hence
/// `@unchecked Sendable`. It forgets, rather than updates: any statement that writes a table a memo was read from
/// clears that memo before it runs, whatever code issued it. GRDB asks ``observes(eventsOfKind:)`` with the tables
/// each write statement touches (from SQLite's authorizer) just before it executes; that is the signal used, because
/// the row-level update hook is silent for `WITHOUT ROWID` tables (`device`, `friend`, `blacklist`, `nodisturb`,
/// `inbox`). A rollback clears the heads, the last `msg_ctime` and the empty queue, which the writer's own appends
/// set. Should another connection (another process on the same file) commit, everything is forgotten at the writer's
/// next turn (``forgetIfWrittenElsewhere(_:)``).
final class WriterMemo: TransactionObserver, @unchecked Sendable {
    /// The most entries each memo keeps before it starts over (a bound on memory, not a tuning knob).
    static let capacity = 65_536

    /// The single-chat part of a send context, by recipient and sender.
    struct PairKey: Hashable {
        var appKey: String
        var username: String
        var senderID: Int64
    }

    /// The sender's forbidden flag and device count, by user id.
    private var senders: [Int64: (forbidden: Bool, devices: Int)] = [:]
    /// The recipient and its relation to the sender; nil when the recipient does not exist.
    private var pairs: [PairKey: SendContext.Single?] = [:]
    /// The highest inbox seq of each user, as of the writer's own appends.
    private var heads: [Int64: Int64] = [:]
    /// Whether `heads` holds every user with entries in the inbox queue, so that any other user's head is in
    /// `inbox`; false at first (a stopped run may have left entries queued) and whenever heads are forgotten.
    private var queuedHeadsKnown = false
    /// Whether the inbox queue may hold entries: false only once the writer read it empty and queued nothing since,
    /// so that a send to a few inboxes does not read the queue again (``InboxQueue``).
    private var queueMayHoldEntries = true
    /// The newest message's `msg_ctime`.
    private var lastCtime: Int64?
    /// `PRAGMA data_version` as the writer last read it: it changes when another connection commits to the file.
    private var dataVersion: Int64?
    /// Set while the writer's own append or its move of queued entries runs, whose writes to `message` and `inbox`
    /// this memo follows itself.
    private var appending = false

    /// The rules' reads of one single-chat send, from memory when the tables they come from did not change since.
    func sendContext(_ db: Database, senderID: Int64, recipient: (appKey: String, username: String)) throws -> SendContext {
        let sender: (forbidden: Bool, devices: Int)
        if let known = senders[senderID] {
            sender = known
        } else {
            sender = try SQLiteHubStore.senderFlags(db, senderID: senderID)
            if senders.count >= Self.capacity { senders.removeAll() }
            senders[senderID] = sender
        }
        let key = PairKey(appKey: recipient.appKey, username: recipient.username, senderID: senderID)
        let single: SendContext.Single?
        if let known = pairs[key] {
            single = known
        } else {
            single = try SQLiteHubStore.singleRelation(db, senderID: senderID, recipient: recipient)
            if pairs.count >= Self.capacity { pairs.removeAll() }
            pairs[key] = .some(single)
        }
        return SendContext(senderForbidden: sender.forbidden, senderDevices: sender.devices, single: single)
    }

    /// The head of `userID`'s inbox, read from the store the first time: from the inbox queue's entries when it has
    /// some of the user's (``InboxQueue``: they follow the user's entries in `inbox`), otherwise from `inbox`.
    func head(_ db: Database, userID: Int64) throws -> Int64 {
        if let known = heads[userID] { return known }
        if !queuedHeadsKnown {
            // Read only: a savepoint rolled back later can undo nothing this relies on.
            for (user, seq) in try InboxQueue.heads(db) where heads[user] == nil { heads[user] = seq }
            queuedHeadsKnown = true
            if let known = heads[userID] { return known }
        }
        return try Int64.fetchOne(try db.cachedStatement(sql: "SELECT MAX(seq) FROM inbox WHERE user_id = ?"),
                                  arguments: [userID]) ?? 0
    }

    /// Whether the inbox queue is empty: from memory when the writer read it empty and queued nothing since. Only the
    /// writer's appends add to the queue (``queued()``), and another connection's commit makes the memo forget.
    func inboxQueueIsEmpty(_ db: Database) throws -> Bool {
        if !queueMayHoldEntries { return true }
        let empty = try InboxQueue.isEmpty(db)
        queueMayHoldEntries = !empty
        return empty
    }

    /// The writer's append queued entries.
    func queued() {
        queueMayHoldEntries = true
    }

    /// The newest message's `msg_ctime`, read from the store the first time.
    func lastMessageCtime(_ db: Database) throws -> Int64 {
        if let lastCtime { return lastCtime }
        return try Int64.fetchOne(
            try db.cachedStatement(sql: "SELECT msg_ctime FROM message ORDER BY msg_id DESC LIMIT 1")) ?? 0
    }

    /// Forgets everything when another connection committed to the file since the last turn: its writes passed no
    /// statement through this connection, so ``observes(eventsOfKind:)`` did not see them. One pragma per turn.
    func forgetIfWrittenElsewhere(_ db: Database) throws {
        let version = try Int64.fetchOne(try db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
        if let dataVersion, dataVersion != version {
            senders.removeAll()
            pairs.removeAll()
            forgetAppends()
        }
        dataVersion = version
    }

    /// Runs the writer's own append, or its move of queued entries into `inbox` (``InboxQueue``): their writes to
    /// `message` and `inbox` do not clear the memo. Calls nest.
    func appending<T>(_ work: () throws -> T) rethrows -> T {
        let outer = appending
        appending = true
        defer { appending = outer }
        return try work()
    }

    /// Records what an append stored, once all of its inserts succeeded.
    func appended(ctime: Int64, heads newHeads: [Int64: Int64]) {
        lastCtime = ctime
        if heads.count + newHeads.count > Self.capacity { forgetHeads() }
        heads.merge(newHeads) { _, new in new }
    }

    // MARK: TransactionObserver

    /// Clears the memos read from the table a write statement is about to touch. Returns false: the row events
    /// themselves are never needed, so GRDB tracks none.
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        switch eventKind.tableName {
        case "user", "device":
            senders.removeAll()
            pairs.removeAll()
        case "friend", "blacklist", "nodisturb":
            pairs.removeAll()
        case "inbox":
            if !appending { forgetHeads() }
        case "message":
            if !appending { lastCtime = nil }
        case "inbox_queue":
            if !appending { queueMayHoldEntries = true }
        default:
            break
        }
        return false
    }

    /// Never called: ``observes(eventsOfKind:)`` asks for no events.
    func databaseDidChange(with event: DatabaseEvent) {}

    /// Nothing to do: the memos already hold what committed.
    func databaseDidCommit(_ db: Database) {}

    /// Forgets what the writer's appends recorded in the transaction that was rolled back.
    func databaseDidRollback(_ db: Database) {
        forgetAppends()
    }

    /// Forgets the heads, the last `msg_ctime` and that the queue was empty, which the writer's appends set.
    private func forgetAppends() {
        forgetHeads()
        lastCtime = nil
        queueMayHoldEntries = true
    }

    /// Forgets every inbox head, those of queued entries too.
    private func forgetHeads() {
        heads.removeAll()
        queuedHeadsKnown = false
    }
}
