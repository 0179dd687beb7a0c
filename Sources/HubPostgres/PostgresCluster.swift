import Foundation
import Hub
import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// What several nodes on one PostgreSQL database share at run time: the inbox notification bus (`LISTEN/NOTIFY`)
/// and the presence registry (a heartbeat row per node, a row per open session). One per node.
///
/// **Delivery.** A publish hands the entry to this node's sessions at once (``InboxBus``, no database round
/// trip), then queues `(user, seq)` for the other nodes. One `NOTIFY` carries everything queued since the last
/// one (so a committed batch costs one, or less under load); it is sent after the commit, from a pooled
/// connection of its own, never inside a writing transaction, and split so that each payload stays under
/// 8,000 bytes. A dedicated connection per node listens; for the users with a session here it reads the
/// announced entries and publishes them locally. A lost notification only delays: every `interval` (1 s) the
/// node reads, for each user with a session here, the newest entry it has not yet published, and the session's
/// ``InboxReader`` reads any gap before it from the store.
///
/// **Presence.** Each node upserts its `cluster_node` row every `interval` and writes its sessions to
/// `cluster_session`, announcing the change with a `NOTIFY`; every node keeps the other nodes' sessions in
/// memory (so `userstat` and online-only chatroom delivery stay synchronous) and drops those of a node whose
/// heartbeat is older than `expiry` (10 s). A full re-read every `reloadEvery` ticks closes gaps left by lost
/// notifications.
public final class PostgresCluster: InboxNotificationBus, PresenceRegistry {
    /// The channel every node listens on.
    static let channel = "mynah_cluster"
    /// The most bytes a payload carries (PostgreSQL refuses 8,000 and more).
    static let maxPayload = 7_900

    /// The cluster's tables.
    public static let migrations = [
        PostgresMigration(component: "cluster", name: "v1", statements: [
            """
            CREATE TABLE cluster_node (
                node TEXT PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), heartbeat_at TIMESTAMPTZ NOT NULL)
            """,
            """
            CREATE TABLE cluster_session (
                node TEXT NOT NULL REFERENCES cluster_node(node) ON DELETE CASCADE, id BIGINT NOT NULL,
                user_id BIGINT NOT NULL, device TEXT NOT NULL, platform TEXT NOT NULL, PRIMARY KEY (node, id))
            """,
            "CREATE INDEX cluster_session_user ON cluster_session(user_id)",
        ]),
    ]

    /// A session of another node.
    struct RemoteKey: Hashable {
        var node: String
        var id: Int
    }

    private struct State {
        var known: [Int64: Int64] = [:]
        var pendingInbox: [(userID: Int64, seq: Int64)] = []
        var pendingOpens: [PresenceNote.Open] = []
        var pendingCloses: [Int] = []
        var flushing = false
        var dirty = false
        var tickQueued = false
        var nextSessionID = 0
        var own: [Int: (userID: Int64, session: Presence.Session)] = [:]
        var ownByUser: [Int64: [Int: Presence.Session]] = [:]
        var enders: [Int: @Sendable () -> Void] = [:]
        var remoteByNode: [String: [Int: Int64]] = [:]
        var remoteByUser: [Int64: [RemoteKey: Presence.Session]] = [:]
        var ticks = 0
        var stopped = false
    }

    private enum Event {
        case notification(String)
        case tick
        case resync
    }

    /// This node's id in `cluster_node` (random per start).
    public let nodeID: String
    let database: PostgresStorage
    let logger: Logger
    let interval: Duration
    let expiry: Duration
    let reloadEvery: Int
    private let local = InboxBus()
    private let state = Mutex(State())
    private let events: AsyncStream<Event>.Continuation
    private let tasks = Mutex<[Task<Void, Never>]>([])

    private init(database: PostgresStorage, interval: Duration, expiry: Duration, reloadEvery: Int, logger: Logger) {
        self.nodeID = String(UUID().uuidString.lowercased().prefix(13))
        self.database = database
        self.interval = interval
        self.expiry = expiry
        self.reloadEvery = max(reloadEvery, 1)
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        self.events = continuation
        let processor = Task { [weak self] in
            for await event in stream {
                guard let self else { return }
                await self.handle(event)
            }
        }
        tasks.withLock { $0.append(processor) }
    }

    /// Registers this node, starts listening and the heartbeat; stops when `database` closes (or on ``stop()``).
    public static func start(database: PostgresStorage, interval: Duration = .seconds(1), expiry: Duration = .seconds(10),
                             reloadEvery: Int = 30, logger: Logger = Logger(label: "mynah.cluster")) async throws -> PostgresCluster {
        let cluster = PostgresCluster(database: database, interval: interval, expiry: expiry, reloadEvery: reloadEvery,
                                      logger: logger)
        try await cluster.heartbeat()
        let listener = Task { [weak cluster] in
            guard let cluster else { return }
            await cluster.listen()
        }
        let ticker = Task { [weak cluster] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let cluster, !Task.isCancelled else { return }
                cluster.queueTick()
            }
        }
        cluster.tasks.withLock { $0 += [listener, ticker] }
        database.onClose { [weak cluster] in await cluster?.stop() }
        return cluster
    }

    /// Stops listening and the heartbeat and removes this node's row (its sessions go with it).
    public func stop() async {
        let running: [Task<Void, Never>]? = state.withLock { s in
            if s.stopped { return nil }
            s.stopped = true
            return tasks.withLock { $0 }
        }
        guard let running else { return }
        events.finish()
        for task in running { task.cancel() }
        for task in running { await task.value }
        _ = try? await database.read { c in try await c.run("DELETE FROM cluster_node WHERE node = \(nodeID)") }
    }

    deinit {
        events.finish()
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    // MARK: InboxNotificationBus

    /// Subscribes to the inbox of one account on this node.
    public func subscribe(userID: Int64) -> AsyncStream<InboxEntry> {
        local.subscribe(userID: userID)
    }

    /// Subscribes `receiver` to the inbox of one account on this node (entries committed by other nodes reach it
    /// once their notification is read).
    public func subscribe(userID: Int64, receiver: any InboxReceiver) -> InboxSubscription {
        local.subscribe(userID: userID, receiver: receiver)
    }

    /// Signals this node's sessions of `userID` at once and queues the entry for the other nodes' `NOTIFY`.
    public func publish(userID: Int64, entry: InboxEntry) {
        local.publish(userID: userID, entry: entry)
        let start = state.withLock { s in
            s.known[userID] = max(s.known[userID] ?? 0, entry.seq)
            s.pendingInbox.append((userID, entry.seq))
            return takeFlush(&s)
        }
        if start { startFlush() }
    }

    /// Sessions listening to `userID`'s inbox on this node plus its sessions on the other nodes.
    public func subscriberCount(userID: Int64) -> Int {
        local.subscriberCount(userID: userID) + state.withLock { $0.remoteByUser[userID]?.count ?? 0 }
    }

    // MARK: PresenceRegistry

    /// Records an open session on this node and announces it to the others; `end` closes its connection.
    public func open(userID: Int64, device: String, platform: String, end: (@Sendable () -> Void)? = nil) -> Presence.Token {
        let (token, start) = state.withLock { s in
            s.nextSessionID += 1
            let id = s.nextSessionID
            let session = Presence.Session(device: device, platform: platform)
            s.own[id] = (userID, session)
            if let end { s.enders[id] = end }
            s.ownByUser[userID, default: [:]][id] = session
            s.pendingOpens.append(.init(i: id, u: userID, d: device, p: platform))
            return (Presence.Token(userID: userID, id: id), takeFlush(&s))
        }
        if start { startFlush() }
        return token
    }

    /// Ends the sessions of `userID` on **this node** (of `device` only, when given) that registered a way to end
    /// them; a session on another node is ended by that node (docs/scale-out.md: the console's "end session").
    public func end(userID: Int64, device: String?) -> Int {
        let enders = state.withLock { s -> [@Sendable () -> Void] in
            (s.ownByUser[userID] ?? [:]).compactMap { id, session in
                device == nil || session.device == device ? s.enders.removeValue(forKey: id) : nil
            }
        }
        enders.forEach { $0() }
        return enders.count
    }

    /// Forgets a session of this node and announces it.
    public func close(_ token: Presence.Token) {
        let start = state.withLock { s in
            s.enders[token.id] = nil
            guard s.own.removeValue(forKey: token.id) != nil else { return false }
            s.ownByUser[token.userID]?[token.id] = nil
            if s.ownByUser[token.userID]?.isEmpty == true { s.ownByUser[token.userID] = nil }
            s.pendingCloses.append(token.id)
            return takeFlush(&s)
        }
        if start { startFlush() }
    }

    /// The open sessions of `userID` on every live node.
    public func sessions(userID: Int64) -> [Presence.Session] {
        state.withLock { s in
            Array((s.ownByUser[userID] ?? [:]).values) + Array((s.remoteByUser[userID] ?? [:]).values)
        }
    }

    /// How many sessions are open on every live node.
    public var sessionCount: Int {
        state.withLock { s in s.own.count + s.remoteByNode.values.reduce(0) { $0 + $1.count } }
    }

    /// How many sessions of other nodes this node sees (tests and the console).
    public var remoteSessionCount: Int {
        state.withLock { s in s.remoteByNode.values.reduce(0) { $0 + $1.count } }
    }

    // MARK: Writing and notifying

    /// Marks the flusher running when it is not and there is work; the caller then starts it.
    private func takeFlush(_ s: inout State) -> Bool {
        if s.flushing || s.stopped { return false }
        s.flushing = true
        return true
    }

    private func startFlush() {
        Task { await self.flush() }
    }

    private enum Job {
        case write(opens: [PresenceNote.Open], closes: [Int], reset: Bool, inbox: [(userID: Int64, seq: Int64)])
    }

    /// Writes queued presence changes (one transaction) and sends the notifications, until nothing is queued.
    private func flush() async {
        while true {
            let job: Job? = state.withLock { s in
                if s.stopped {
                    s.flushing = false
                    return nil
                }
                if s.dirty {
                    s.dirty = false
                    s.pendingOpens = []
                    s.pendingCloses = []
                    let all = s.own.map { PresenceNote.Open(i: $0.key, u: $0.value.userID, d: $0.value.session.device,
                                                            p: $0.value.session.platform) }
                    defer { s.pendingInbox = [] }
                    return .write(opens: all, closes: [], reset: true, inbox: s.pendingInbox)
                }
                if s.pendingOpens.isEmpty && s.pendingCloses.isEmpty && s.pendingInbox.isEmpty {
                    s.flushing = false
                    return nil
                }
                defer {
                    s.pendingOpens = []
                    s.pendingCloses = []
                    s.pendingInbox = []
                }
                return .write(opens: s.pendingOpens, closes: s.pendingCloses, reset: false, inbox: s.pendingInbox)
            }
            guard case .write(let opens, let closes, let reset, let inbox)? = job else { return }
            if !inbox.isEmpty {
                do {
                    for payload in Self.inboxPayloads(node: nodeID, inbox) { try await notify(payload) }
                } catch {
                    // The other nodes' catch-up reads find these entries within `interval`.
                    if !state.withLock({ $0.stopped }) {
                        logger.warning("could not notify the other nodes", metadata: ["error": "\(PostgresStorage.reason(error))"])
                    }
                }
            }
            if reset || !opens.isEmpty || !closes.isEmpty {
                do {
                    try await writeSessions(opens: opens, closes: closes, reset: reset)
                    for payload in PresenceNote.payloads(node: nodeID, opens: opens, closes: closes, reset: reset) {
                        try await notify(payload)
                    }
                } catch {
                    logger.warning("could not record sessions; rewriting them on the next tick",
                                   metadata: ["error": "\(PostgresStorage.reason(error))"])
                    // The next tick starts the writer again.
                    state.withLock { s in
                        s.dirty = true
                        s.flushing = false
                    }
                    return
                }
            }
        }
    }

    /// One `NOTIFY`, on a pooled connection outside any transaction.
    private func notify(_ payload: String) async throws {
        try await database.read { c in try await c.run("SELECT pg_notify(\(Self.channel), \(payload))") }
    }

    private func writeSessions(opens: [PresenceNote.Open], closes: [Int], reset: Bool) async throws {
        let node = nodeID
        try await database.write { c in
            if reset { try await c.run("DELETE FROM cluster_session WHERE node = \(node)") }
            if !opens.isEmpty {
                try await c.run("""
                    INSERT INTO cluster_session (node, id, user_id, device, platform)
                    SELECT \(node), i, u, d, p
                    FROM unnest(\(opens.map { Int64($0.i) })::bigint[], \(opens.map(\.u))::bigint[],
                                \(opens.map(\.d))::text[], \(opens.map(\.p))::text[]) AS t(i, u, d, p)
                    ON CONFLICT DO NOTHING
                    """)
            }
            if !closes.isEmpty {
                try await c.run("""
                    DELETE FROM cluster_session WHERE node = \(node) AND id = ANY(\(closes.map { Int64($0) })::bigint[])
                    """)
            }
        }
    }

    /// `i NODE user:seq user:seq ...`, split so that each stays under ``maxPayload`` bytes.
    static func inboxPayloads(node: String, _ entries: [(userID: Int64, seq: Int64)]) -> [String] {
        let head = "i \(node)"
        var payloads: [String] = []
        var current = head
        for entry in entries {
            let token = " \(entry.userID):\(entry.seq)"
            if current.utf8.count + token.utf8.count > maxPayload {
                payloads.append(current)
                current = head
            }
            current += token
        }
        if current != head { payloads.append(current) }
        return payloads
    }

    // MARK: Listening

    private func queueTick() {
        let queue = state.withLock { s in
            if s.tickQueued { return false }
            s.tickQueued = true
            return true
        }
        if queue { events.yield(.tick) }
    }

    /// Listens on a connection of its own; reconnects after a failure and then re-reads what it may have missed.
    private func listen() async {
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.any(),
                    configuration: try database.settings.connectionConfiguration(), id: 1, logger: logger).get()
                do {
                    try await connection.listen(on: Self.channel) { notifications in
                        events.yield(.resync)
                        for try await notification in notifications {
                            events.yield(.notification(notification.payload))
                        }
                    }
                } catch {
                    if !Task.isCancelled {
                        logger.warning("lost the listening connection", metadata: ["error": "\(PostgresStorage.reason(error))"])
                    }
                }
                try? await connection.close()
            } catch {
                logger.warning("cannot open the listening connection", metadata: ["error": "\(PostgresStorage.reason(error))"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    private func handle(_ event: Event) async {
        switch event {
        case .notification(let payload):
            if payload.hasPrefix("i ") {
                await deliver(payload)
            } else if payload.hasPrefix("p "), let note = PresenceNote(payload: payload), note.n != nodeID {
                apply(note)
            }
        case .resync:
            await reloadSessions()
            await catchUp()
        case .tick:
            state.withLock { $0.tickQueued = false }
            await tick()
        }
    }

    /// Reads the entries another node announced, for the users with a session here, and publishes them locally.
    private func deliver(_ payload: String) async {
        let parts = payload.split(separator: " ")
        guard parts.count >= 2, parts[1] != nodeID else { return }
        var users: [Int64] = []
        var seqs: [Int64] = []
        for token in parts.dropFirst(2) {
            let pair = token.split(separator: ":")
            guard pair.count == 2, let user = Int64(pair[0]), let seq = Int64(pair[1]),
                  local.subscriberCount(userID: user) > 0 else { continue }
            users.append(user)
            seqs.append(seq)
        }
        guard !users.isEmpty else { return }
        do {
            let now = Hub.nowMillis()
            let rows = try await database.read { c in
                try await c.rows("""
                    SELECT inbox.user_id, inbox.seq, inbox.quiet, inbox.event, message.msg_id, message.msg_ctime, message.body
                    FROM unnest(\(users)::bigint[], \(seqs)::bigint[]) AS t(u, s)
                    JOIN inbox ON inbox.user_id = t.u AND inbox.seq = t.s
                    LEFT JOIN message ON message.msg_id = inbox.msg_id
                    WHERE (inbox.expires_at IS NULL OR inbox.expires_at > \(now))
                    AND (inbox.event IS NOT NULL OR message.retracted = false)
                    ORDER BY inbox.user_id, inbox.seq
                    """)
            }
            try publishRead(rows)
        } catch {
            logger.warning("could not read announced entries", metadata: ["error": "\(PostgresStorage.reason(error))"])
        }
    }

    private func publishRead(_ rows: [PostgresRandomAccessRow]) throws {
        for row in rows {
            let user = try row.get("user_id", as: Int64.self)
            let entry = try PostgresHubStore.entry(from: row)
            state.withLock { s in s.known[user] = max(s.known[user] ?? 0, entry.seq) }
            local.publish(userID: user, entry: entry)
        }
    }

    /// For each user with a session here, publishes the newest entry after the last one published here (if any),
    /// so that its reader notices a gap left by a lost notification and reads it.
    private func catchUp() async {
        let subscribed = local.subscribedUserIDs
        let known = state.withLock { s in
            let live = Set(subscribed)
            s.known = s.known.filter { live.contains($0.key) }
            return subscribed.map { s.known[$0] ?? 0 }
        }
        guard !subscribed.isEmpty else { return }
        do {
            let now = Hub.nowMillis()
            for start in stride(from: 0, to: subscribed.count, by: 1000) {
                let users = Array(subscribed[start..<min(start + 1000, subscribed.count)])
                let after = Array(known[start..<min(start + 1000, known.count)])
                let rows = try await database.read { c in
                    try await c.rows("""
                        SELECT e.* FROM unnest(\(users)::bigint[], \(after)::bigint[]) AS t(u, k)
                        CROSS JOIN LATERAL (
                            SELECT inbox.user_id, inbox.seq, inbox.quiet, inbox.event,
                                   message.msg_id, message.msg_ctime, message.body
                            FROM inbox LEFT JOIN message ON message.msg_id = inbox.msg_id
                            WHERE inbox.user_id = t.u AND inbox.seq > t.k
                            AND (inbox.expires_at IS NULL OR inbox.expires_at > \(now))
                            AND (inbox.event IS NOT NULL OR message.retracted = false)
                            ORDER BY inbox.seq DESC LIMIT 1) AS e
                        """)
                }
                try publishRead(rows)
            }
        } catch {
            logger.warning("catch-up read failed", metadata: ["error": "\(PostgresStorage.reason(error))"])
        }
    }

    /// Upserts this node's heartbeat; a node found missing (removed by another after a long stall) rewrites its
    /// sessions.
    private func heartbeat() async throws {
        let inserted = try await database.read { c in
            try await c.value(Bool.self, """
                INSERT INTO cluster_node (node, heartbeat_at) VALUES (\(nodeID), now())
                ON CONFLICT (node) DO UPDATE SET heartbeat_at = now() RETURNING (xmax = 0)
                """) ?? false
        }
        if inserted {
            let start = state.withLock { s in
                if s.own.isEmpty { return false }
                s.dirty = true
                return takeFlush(&s)
            }
            if start { startFlush() }
        }
    }

    private func tick() async {
        do {
            try await heartbeat()
            let start = state.withLock { s in s.dirty ? takeFlush(&s) : false }
            if start { startFlush() }
            let seconds = Double(expiry.components.seconds) + Double(expiry.components.attoseconds) / 1e18
            let live = try await database.read { c in
                try await c.values(String.self, """
                    SELECT node FROM cluster_node WHERE heartbeat_at > now() - make_interval(secs => \(seconds)::float8)
                    """)
            }
            let reload = state.withLock { s in
                let alive = Set(live)
                for node in s.remoteByNode.keys where !alive.contains(node) { Self.dropNode(node, &s) }
                s.ticks += 1
                return s.ticks % reloadEvery == 0
            }
            if reload {
                await reloadSessions()
                // Rows of nodes dead for a while (their sessions go with them).
                try await database.read { c in
                    try await c.run("""
                        DELETE FROM cluster_node WHERE heartbeat_at < now() - make_interval(secs => \(seconds * 6)::float8)
                        """)
                }
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("heartbeat failed", metadata: ["error": "\(PostgresStorage.reason(error))"])
            }
        }
        await catchUp()
    }

    // MARK: The other nodes' sessions

    private static func dropNode(_ node: String, _ s: inout State) {
        guard let sessions = s.remoteByNode.removeValue(forKey: node) else { return }
        for (id, user) in sessions {
            s.remoteByUser[user]?[RemoteKey(node: node, id: id)] = nil
            if s.remoteByUser[user]?.isEmpty == true { s.remoteByUser[user] = nil }
        }
    }

    private func apply(_ note: PresenceNote) {
        state.withLock { s in
            if note.r == true { Self.dropNode(note.n, &s) }
            for open in note.o ?? [] {
                s.remoteByNode[note.n, default: [:]][open.i] = open.u
                s.remoteByUser[open.u, default: [:]][RemoteKey(node: note.n, id: open.i)] =
                    Presence.Session(device: open.d, platform: open.p)
            }
            for id in note.c ?? [] {
                guard let user = s.remoteByNode[note.n]?.removeValue(forKey: id) else { continue }
                if s.remoteByNode[note.n]?.isEmpty == true { s.remoteByNode[note.n] = nil }
                s.remoteByUser[user]?[RemoteKey(node: note.n, id: id)] = nil
                if s.remoteByUser[user]?.isEmpty == true { s.remoteByUser[user] = nil }
            }
        }
    }

    /// Replaces the other nodes' sessions with what the table holds for the live nodes.
    private func reloadSessions() async {
        do {
            let seconds = Double(expiry.components.seconds) + Double(expiry.components.attoseconds) / 1e18
            let rows = try await database.read { c in
                try await c.rows("""
                    SELECT s.node, s.id, s.user_id, s.device, s.platform
                    FROM cluster_session s JOIN cluster_node n ON n.node = s.node
                    WHERE s.node <> \(nodeID) AND n.heartbeat_at > now() - make_interval(secs => \(seconds)::float8)
                    """)
            }
            var byNode: [String: [Int: Int64]] = [:]
            var byUser: [Int64: [RemoteKey: Presence.Session]] = [:]
            for row in rows {
                let node = try row.get("node", as: String.self)
                let id = Int(try row.get("id", as: Int64.self))
                let user = try row.get("user_id", as: Int64.self)
                byNode[node, default: [:]][id] = user
                byUser[user, default: [:]][RemoteKey(node: node, id: id)] =
                    Presence.Session(device: try row.get("device"), platform: try row.get("platform"))
            }
            state.withLock { s in
                s.remoteByNode = byNode
                s.remoteByUser = byUser
            }
        } catch {
            logger.warning("could not read the other nodes' sessions", metadata: ["error": "\(PostgresStorage.reason(error))"])
        }
    }
}

/// A presence change of one node, as JSON after `p `: sessions opened (`o`), closed (`c`), or a reset (`r`: the
/// node's sessions are exactly those that follow).
struct PresenceNote: Codable {
    struct Open: Codable {
        var i: Int
        var u: Int64
        var d: String
        var p: String
    }

    var n: String
    var r: Bool?
    var o: [Open]?
    var c: [Int]?

    init(n: String, r: Bool? = nil, o: [Open]? = nil, c: [Int]? = nil) {
        self.n = n
        self.r = r
        self.o = o
        self.c = c
    }

    init?(payload: String) {
        guard let note = try? JSONDecoder().decode(PresenceNote.self, from: Data(payload.utf8.dropFirst(2))) else {
            return nil
        }
        self = note
    }

    var payload: String {
        "p " + String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The notes announcing `opens` and `closes`, each under ``PostgresCluster/maxPayload`` bytes; a reset comes
    /// first. An open too large for any payload is left to the periodic re-read.
    static func payloads(node: String, opens: [Open], closes: [Int], reset: Bool) -> [String] {
        var payloads: [String] = []
        var first = reset
        func emit(_ opens: ArraySlice<Open>, _ closes: ArraySlice<Int>) {
            let note = PresenceNote(n: node, r: first ? true : nil, o: opens.isEmpty ? nil : Array(opens),
                                    c: closes.isEmpty ? nil : Array(closes))
            let payload = note.payload
            if payload.utf8.count <= PostgresCluster.maxPayload {
                payloads.append(payload)
                first = false
            } else if opens.count > 1 {
                let half = opens.startIndex + opens.count / 2
                emit(opens[..<half], closes)
                emit(opens[half...], [])
            } else if closes.count > 1 {
                let half = closes.startIndex + closes.count / 2
                emit(opens, closes[..<half])
                emit([], closes[half...])
            } else if !closes.isEmpty {
                emit([], closes)
            }
        }
        if reset || !opens.isEmpty || !closes.isEmpty { emit(opens[...], closes[...]) }
        return payloads
    }
}
