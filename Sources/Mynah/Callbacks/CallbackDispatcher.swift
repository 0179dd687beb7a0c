import AsyncHTTPClient
import BotKit
import CoreMetrics
import Foundation
import Hub
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Message routing out of the hub (`callbacks:` of an app): follows the hub's message log with a durable cursor per
/// destination and POSTs the app's messages in JMessage's routing format, in batches of at most `batch.max` messages
/// or `batch.wait`.
///
/// Guarantees (docs/callbacks.md): at least once (the cursor moves only after an HTTP 200, so a crash or kill -9
/// repeats a batch at most); in log order, hence ordered per conversation (one batch in flight per destination);
/// failures retried with capped exponential backoff; after `dead_after` failed attempts the batch is kept as a dead
/// letter (counted in `/metrics`, replayed with `mynah callbacks replay`) and routing moves on.
final class CallbackDispatcher: Service {
    /// A destination with what its POSTs need.
    struct Destination: Sendable {
        var callback: MynahConfiguration.Callback
        var masterSecret: String
        var metrics: CallbackMetrics
    }

    /// How many log rows one read scans.
    static let scanLimit = 500

    let destinations: [Destination]
    let outbox: CallbackOutbox
    let log: any MessageLogStore
    let client: HTTPClient
    let logger: Logger
    /// How often an idle destination looks for new messages.
    let pollInterval: Duration

    /// Creates every destination's cursor (at the log's end for a new one) before the hub accepts anything, so no
    /// message sent after the daemon started can be missed.
    init(callbacks: [MynahConfiguration.Callback], apps: [MynahConfiguration.App], log: any MessageLogStore,
         outbox: CallbackOutbox, factory: any MetricsFactory, client: HTTPClient = .shared,
         pollInterval: Duration = .milliseconds(100), logger: Logger) async throws {
        let secrets = Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 })
        destinations = callbacks.compactMap { callback in
            secrets[callback.appKey].map {
                Destination(callback: callback, masterSecret: $0, metrics: CallbackMetrics(callback, factory: factory))
            }
        }
        self.outbox = outbox
        self.log = log
        self.client = client
        self.pollInterval = pollInterval
        self.logger = logger
        let head = try await log.lastMessageID()
        let counts = try await outbox.deadLetterCounts()
        for destination in destinations {
            _ = try await outbox.cursor(destination.callback.key, startingAt: head)
            destination.metrics.deadLetters.set(counts[destination.callback.key] ?? 0)
        }
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for destination in destinations {
                group.addTask { await self.route(destination) }
            }
        }
    }

    /// Whether `message` is one of the destination's: of its app (sent from it or to it) and a routed conversation.
    static func routes(_ message: Message, to callback: MynahConfiguration.Callback) -> Bool {
        guard callback.conversations.contains(message.targetType) else { return false }
        let from = message.fromAppKey ?? ""
        return from == callback.appKey || (message.targetAppKey ?? from) == callback.appKey
    }

    /// The destination's loop until shutdown.
    func route(_ destination: Destination) async {
        let callback = destination.callback
        let key = callback.key
        var logger = logger
        logger[metadataKey: "callback"] = "\(callback.url)"
        var firstSeen: ContinuousClock.Instant?
        // Read once; afterwards the loop keeps it. Skipping other apps' messages is recorded at most once a second
        // (forgetting a skip only rereads them after a restart).
        var cursor: Int64 = 0
        var persisted: Int64 = 0
        var lastPersist = ContinuousClock.now
        while !Task.isCancelledOrShuttingDown {
            do {
                cursor = try await outbox.cursor(key, startingAt: 0)
                persisted = cursor
                break
            } catch {
                logger.error("message routing cannot read its cursor; retrying", metadata: ["error": "\(error)"])
                await pause(.seconds(1))
            }
        }
        while !Task.isCancelledOrShuttingDown {
            do {
                if let dead = try await outbox.nextReplay(key) {
                    let outcome = await post(dead.body, destination, delivery: "dead-\(dead.id)")
                    try await outbox.replayed(dead.id, delivered: outcome == nil, error: outcome ?? "")
                    destination.metrics.replays.increment()
                    if outcome == nil { destination.metrics.delivered.increment(by: dead.count) }
                    await refreshDeadLetters(destination)
                    logger.notice("dead letter replayed", metadata: ["id": "\(dead.id)", "error": "\(outcome ?? "none")"])
                    continue
                }
                let scan = try await log.messages(after: cursor, limit: Self.scanLimit)
                var batch: [StoredMessage] = []
                for stored in scan where Self.routes(stored.message, to: callback) {
                    batch.append(stored)
                    if batch.count == callback.batchMax { break }
                }
                let end = batch.count == callback.batchMax ? batch[batch.count - 1].msgID : (scan.last?.msgID ?? cursor)
                if batch.isEmpty {
                    cursor = end
                    if cursor > persisted && lastPersist.duration(to: .now) >= .seconds(1) {
                        try await outbox.advance(key, to: cursor)
                        persisted = cursor
                        lastPersist = .now
                    }
                    if scan.count < Self.scanLimit { await pause(pollInterval) }
                    continue
                }
                // A batch that is not full waits up to batch.wait for more, unless more of the log is already there.
                if batch.count < callback.batchMax && scan.count < Self.scanLimit {
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
    /// (shutdown, or the cursor could not be written: the batch then goes again).
    func deliver(_ batch: [StoredMessage], upTo end: Int64, _ destination: Destination, logger: Logger) async -> Bool {
        let callback = destination.callback
        let body = RoutingFormat.batch(batch, appKey: callback.appKey)
        let first = batch[0].msgID, last = batch[batch.count - 1].msgID
        var attempt = 0
        var delay = callback.backoff
        while !Task.isCancelledOrShuttingDown {
            attempt += 1
            guard let failure = await post(body, destination, delivery: "\(first)-\(last)") else {
                do {
                    try await outbox.advance(callback.key, to: end)
                    destination.metrics.delivered.increment(by: batch.count)
                    return true
                } catch {
                    // The batch goes again: at least once.
                    logger.error("cannot record a delivered batch; it will be sent again", metadata: ["error": "\(error)"])
                    return false
                }
            }
            destination.metrics.failures.increment()
            if attempt >= callback.deadAfter {
                do {
                    try await outbox.bury(callback.key, body: body, firstMsgID: first, lastMsgID: end, count: batch.count,
                                          attempts: attempt, error: failure, now: Hub.nowMillis())
                    await refreshDeadLetters(destination)
                    logger.error("callback batch kept as a dead letter after \(attempt) failed attempts",
                                 metadata: ["first_msgid": "\(first)", "last_msgid": "\(last)", "error": "\(failure)"])
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

    /// Sleeps, returning early (without throwing) on shutdown or cancellation.
    func pause(_ duration: Duration) async {
        try? await gracefulShutdown(orSleep: duration)
    }
}
