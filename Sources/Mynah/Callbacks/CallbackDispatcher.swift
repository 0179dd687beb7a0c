import AsyncHTTPClient
import BotKit
import CoreMetrics
import Foundation
import Hub
import HubPostgres
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Message routing out of the hub (`callbacks:` of an app): follows the hub's log of messages (and, with `events:`,
/// gateway events) with a durable cursor per destination and POSTs what belongs to the app in JMessage's routing
/// format, in batches of at most `batch.max` items or `batch.wait`.
///
/// Guarantees (docs/callbacks.md): at least once (the cursor moves only after an HTTP 200, so a crash or kill -9
/// repeats a batch at most); in commit order, hence ordered per conversation (one batch in flight per destination);
/// failures retried with capped exponential backoff; after `dead_after` failed attempts the batch is kept as a dead
/// letter (counted in `/metrics`, replayed with `mynah callbacks replay`) and routing moves on. ``apply(_:)`` changes
/// the destinations of a running daemon (reload) without losing a cursor. In a cluster (PostgreSQL) the cursors and
/// dead letters are the database's and one node routes, the one holding the `callbacks` lease; another takes over
/// from the same cursors when it dies.
final class CallbackDispatcher: Service, Sendable {
    /// A destination with what its POSTs need.
    struct Destination: Sendable {
        var callback: MynahConfiguration.Callback
        var masterSecret: String
        var metrics: CallbackMetrics
    }

    /// How many log rows one read scans.
    static let scanLimit = 500

    let outbox: any RoutingStore
    let log: any MessageLogStore
    /// On PostgreSQL, the cluster's leases: the destinations are routed on whichever one node holds `callbacks`
    /// (`nil`: here, always).
    let leases: PostgresLeases?
    let client: HTTPClient
    let logger: Logger
    let factory: any MetricsFactory
    /// The apps' master secrets (apps change only with a restart).
    let secrets: [String: String]
    /// How often an idle destination looks for new messages.
    let pollInterval: Duration
    /// The destinations, and once running the loop of each, by key.
    private let state = Mutex<(destinations: [String: Destination], loops: [String: Task<Void, Never>], running: Bool)>(
        ([:], [:], false))

    /// Creates every destination's cursor (at the log's end for a new one) before the hub accepts anything, so no
    /// message sent after the daemon started can be missed.
    init(callbacks: [MynahConfiguration.Callback], apps: [MynahConfiguration.App], log: any MessageLogStore,
         outbox: any RoutingStore, leases: PostgresLeases? = nil, factory: any MetricsFactory,
         client: HTTPClient = .shared, pollInterval: Duration = .milliseconds(100), logger: Logger) async throws {
        secrets = Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 })
        self.outbox = outbox
        self.log = log
        self.leases = leases
        self.client = client
        self.pollInterval = pollInterval
        self.logger = logger
        self.factory = factory
        let destinations = try await prepare(callbacks)
        state.withLock { $0.destinations = destinations }
    }

    /// The destinations of `callbacks` whose app is known, each with its cursor created and its dead letters counted.
    private func prepare(_ callbacks: [MynahConfiguration.Callback]) async throws -> [String: Destination] {
        let head = try await log.logHead()
        let counts = try await outbox.deadLetterCounts()
        var result: [String: Destination] = [:]
        for callback in callbacks {
            guard let secret = secrets[callback.appKey] else { continue }
            let destination = Destination(callback: callback, masterSecret: secret,
                                          metrics: CallbackMetrics(callback, factory: factory))
            _ = try await outbox.cursor(callback.key, startingAt: head)
            destination.metrics.deadLetters.set(counts[callback.key] ?? 0)
            result[callback.key] = destination
        }
        return result
    }

    /// The destinations now routed.
    var callbacks: [MynahConfiguration.Callback] {
        state.withLock { $0.destinations.values.map(\.callback) }
    }

    /// The lease that makes one node of a cluster the one that routes.
    static let lease = "callbacks"

    func run() async throws {
        guard let leases else { return await routeHere() }
        // A node that loses the lease (its database session ended) stops routing; the next holder resumes from
        // the shared cursors, so a batch in flight is sent again at most.
        // A node waiting for the lease stops waiting at shutdown.
        await cancelWhenGracefulShutdown {
            while await leases.whileHolding(Self.lease, { await self.routeHere() }) {
                self.logger.warning("message routing stopped here: the lease was lost; waiting to take it again")
            }
        }
    }

    /// Routes every destination until shutdown (or until cancelled: the lease was lost).
    func routeHere() async {
        let loops = state.withLock { s in
            s.running = true
            for (key, destination) in s.destinations { s.loops[key] = Task { await self.route(destination) } }
            return s.loops.count
        }
        logger.debug("message routing started", metadata: ["destinations": "\(loops)"])
        try? await gracefulShutdown()
        let tasks = state.withLock { s in
            s.running = false
            defer { s.loops = [:] }
            return Array(s.loops.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Applies a reloaded configuration's callbacks: removed destinations stop (their cursor is forgotten, their dead
    /// letters stay), changed ones stop and start again with their new settings from their durable cursor (a batch
    /// in flight is sent again: at least once), new ones start at the log's end. One call at a time.
    func apply(_ callbacks: [MynahConfiguration.Callback]) async throws {
        let current = state.withLock { $0.destinations }
        let wanted = Dictionary(callbacks.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        let removed = current.keys.filter { wanted[$0] == nil }
        let changed = current.compactMap { key, destination in
            wanted[key].flatMap { $0 == destination.callback ? nil : key }
        }
        let added = try await prepare(callbacks.filter { current[$0.key] == nil || changed.contains($0.key) })
        // Stop what goes or changes, and wait until its loop is done: two loops must never share a cursor.
        let stopping = state.withLock { s -> [Task<Void, Never>] in
            var tasks: [Task<Void, Never>] = []
            for key in removed + changed { if let task = s.loops.removeValue(forKey: key) { tasks.append(task) } }
            return tasks
        }
        for task in stopping { task.cancel() }
        for task in stopping { await task.value }
        let routing = state.withLock { s in
            for key in removed { s.destinations[key] = nil }
            for (key, destination) in added {
                s.destinations[key] = destination
                if s.running { s.loops[key] = Task { await self.route(destination) } }
            }
            return s.running
        }
        // In a cluster the cursors are shared: only the node that routes forgets one (a node still rolling the
        // change out may route it).
        for key in removed where leases == nil || routing {
            do {
                try await outbox.removeCursor(key)
            } catch {
                // Kept, it only means that the URL, added again later, resumes where it stopped.
                logger.error("cannot forget a removed callback's cursor", metadata: ["callback": "\(key)", "error": "\(error)"])
            }
        }
        if !removed.isEmpty || !added.isEmpty {
            logger.notice("message routing reloaded", metadata: [
                "added": "\(added.count - changed.count)", "changed": "\(changed.count)", "removed": "\(removed.count)"])
        }
    }

    /// Whether `item` is one of the destination's: of its app (sent from it or to it), a routed conversation and,
    /// for an event, a routed kind.
    static func routes(_ item: LogItem, to callback: MynahConfiguration.Callback) -> Bool {
        switch item {
        case .message(let stored): return routes(stored.message, to: callback)
        case .event(let logged):
            return callback.events.admits(logged.event.kind) && callback.conversations.contains(logged.targetType)
                && logged.appKeys.contains(callback.appKey)
        }
    }

    /// Whether `message` is one of the destination's: of its app (sent from it or to it) and a routed conversation.
    static func routes(_ message: Message, to callback: MynahConfiguration.Callback) -> Bool {
        guard callback.conversations.contains(message.targetType) else { return false }
        let from = message.fromAppKey ?? ""
        return from == callback.appKey || (message.targetAppKey ?? from) == callback.appKey
    }

    /// The destination's loop until it is cancelled (shutdown, or a reload that changes or removes it).
    func route(_ destination: Destination) async {
        let callback = destination.callback
        let key = callback.key
        var logger = logger
        logger[metadataKey: "callback"] = "\(callback.url)"
        var firstSeen: ContinuousClock.Instant?
        // Read once; afterwards the loop keeps it. Skipping other apps' messages is recorded at most once a second
        // (forgetting a skip only rereads them after a restart).
        var cursor = LogPosition(msgID: 0, eventID: 0)
        var persisted = cursor
        var lastPersist = ContinuousClock.now
        while !Task.isCancelled {
            do {
                cursor = try await outbox.cursor(key, startingAt: try await log.logHead())
                persisted = cursor
                break
            } catch {
                logger.error("message routing cannot read its cursor; retrying", metadata: ["error": "\(error)"])
                await pause(.seconds(1))
            }
        }
        while !Task.isCancelled {
            do {
                if let dead = try await outbox.nextReplay(key) {
                    let outcome = await post(dead.body, destination, delivery: "dead-\(dead.id)")
                    if Task.isCancelled { break }
                    try await outbox.replayed(dead.id, delivered: outcome == nil, error: outcome ?? "")
                    destination.metrics.replays.increment()
                    if outcome == nil { destination.metrics.delivered.increment(by: dead.count) }
                    await refreshDeadLetters(destination)
                    logger.notice("dead letter replayed", metadata: ["id": "\(dead.id)", "error": "\(outcome ?? "none")"])
                    continue
                }
                let scan = try await log.log(after: cursor, limit: Self.scanLimit)
                // A batch holds messages or events, never both, so that POSTs in order are items in order.
                var batch: [LogItem] = []
                var batchEnd = cursor, position = cursor
                var closed = false
                for item in scan.items {
                    let next = item.position(after: position)
                    if Self.routes(item, to: callback) {
                        if let first = batch.first, first.isEvent != item.isEvent {
                            closed = true
                            break
                        }
                        batch.append(item)
                        batchEnd = next
                        if batch.count == callback.batchMax {
                            closed = true
                            break
                        }
                    }
                    position = next
                }
                let end = closed ? batchEnd : position
                if batch.isEmpty {
                    cursor = end
                    if cursor != persisted && lastPersist.duration(to: .now) >= .seconds(1) {
                        try await outbox.advance(key, to: cursor)
                        persisted = cursor
                        lastPersist = .now
                    }
                    if scan.complete { await pause(pollInterval) }
                    continue
                }
                // A batch that is not full waits up to batch.wait for more, unless more of the log is already there.
                if !closed && scan.complete {
                    let now = ContinuousClock.now
                    let since = firstSeen ?? now
                    firstSeen = since
                    let waited = since.duration(to: now)
                    if waited < callback.batchWait {
                        await pause(min(pollInterval, callback.batchWait - waited))
                        continue
                    }
                }
                firstSeen = nil
                if await deliver(batch, upTo: end, destination, logger: logger) {
                    cursor = end
                    persisted = end
                }
            } catch {
                logger.error("message routing failed to read its state; retrying", metadata: ["error": "\(error)"])
                await pause(.seconds(1))
            }
        }
    }

    /// POSTs one batch until it is received or buried, then moves the durable cursor to `end`; false when it did not
    /// (stopped, or the cursor could not be written: the batch then goes again).
    func deliver(_ batch: [LogItem], upTo end: LogPosition, _ destination: Destination, logger: Logger) async -> Bool {
        let callback = destination.callback
        let messages = batch.compactMap(\.message), events = batch.compactMap(\.loggedEvent)
        let kind: RoutingDeadLetter.Kind = events.isEmpty ? .messages : .events
        let body = events.isEmpty ? RoutingFormat.batch(messages, appKey: callback.appKey) : RoutingFormat.events(events)
        let ids = events.isEmpty ? messages.map(\.msgID) : events.map(\.id)
        let first = ids[0], last = ids[ids.count - 1]
        let delivery = events.isEmpty ? "\(first)-\(last)" : "events-\(first)-\(last)"
        let counter = events.isEmpty ? destination.metrics.delivered : destination.metrics.events
        var attempt = 0
        var delay = callback.backoff
        while !Task.isCancelled {
            attempt += 1
            guard let failure = await post(body, destination, delivery: delivery) else {
                do {
                    try await outbox.advance(callback.key, to: end)
                    counter.increment(by: batch.count)
                    return true
                } catch {
                    // The batch goes again: at least once.
                    logger.error("cannot record a delivered batch; it will be sent again", metadata: ["error": "\(error)"])
                    return false
                }
            }
            // Stopped by a reload or shutdown: not the receiver's failure.
            if Task.isCancelled { return false }
            destination.metrics.failures.increment()
            if attempt >= callback.deadAfter {
                do {
                    try await outbox.bury(callback.key, kind: kind, body: body, first: first, last: last,
                                          count: batch.count, attempts: attempt, error: failure, position: end,
                                          url: nil, now: Hub.nowMillis())
                    await refreshDeadLetters(destination)
                    logger.error("callback batch kept as a dead letter after \(attempt) failed attempts",
                                 metadata: ["first": "\(first)", "last": "\(last)", "kind": "\(kind)",
                                            "error": "\(failure)"])
                } catch {
                    logger.error("cannot keep a dead letter; retrying the batch", metadata: ["error": "\(error)"])
                    await pause(delay)
                    continue
                }
                return true
            }
            logger.warning("callback failed; retrying",
                           metadata: ["attempt": "\(attempt)", "error": "\(failure)", "retry_in": "\(delay)"])
            await pause(delay)
            delay = min(delay * 2, callback.maxBackoff)
        }
        return false
    }

    func refreshDeadLetters(_ destination: Destination) async {
        if let counts = try? await outbox.deadLetterCounts() {
            destination.metrics.deadLetters.set(counts[destination.callback.key] ?? 0)
        }
    }

    /// POSTs `body` to the destination; `nil` when it answered 200, otherwise what went wrong.
    func post(_ body: [UInt8], _ destination: Destination, delivery: String) async -> String? {
        let callback = destination.callback
        var request = HTTPClientRequest(url: callback.url)
        request.method = .POST
        let credentials = Data("\(callback.appKey):\(destination.masterSecret)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "mynah-callbacks")
        request.headers.add(name: "X-Mynah-Delivery", value: delivery)
        if let secret = callback.secret {
            let timestamp = String(Int64(Date().timeIntervalSince1970))
            request.headers.add(name: "X-Mynah-Timestamp", value: timestamp)
            request.headers.add(name: "X-Mynah-Signature",
                                value: WebhookPlugin.signature(of: Array("\(timestamp).".utf8) + body, secret: secret))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let (seconds, attos) = callback.timeout.components
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(seconds * 1_000_000_000 + attos / 1_000_000_000))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status.code == 200 ? nil : "HTTP \(response.status.code)"
        } catch {
            return "\(error)"
        }
    }

    /// Sleeps, returning early (without throwing) when cancelled.
    func pause(_ duration: Duration) async {
        try? await Task.sleep(for: duration)
    }
}

extension LogItem {
    /// Whether it is a gateway event.
    var isEvent: Bool { if case .event = self { true } else { false } }
    /// The message, for a message.
    var message: StoredMessage? { if case .message(let m) = self { m } else { nil } }
    /// The event, for an event.
    var loggedEvent: LoggedEvent? { if case .event(let e) = self { e } else { nil } }
}
