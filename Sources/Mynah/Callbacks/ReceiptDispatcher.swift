import AsyncHTTPClient
import Bridge
import CoreMetrics
import Foundation
import Hub
import IMProtocol
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Reports the receipts of bridged pushes to their `callback` URLs (JPush's push `callback: {url, params, type}`):
/// type 8 once the push is accepted, type 1 each time an account it went to acknowledges it on a device.
///
/// The bridge's store is the outbox of what is due: callbacks are stored with their push and a report is marked sent
/// only after an HTTP 200, so each goes out at least once, across restarts and kill -9. Failures are retried with
/// capped exponential backoff; after `deadAfter` failed attempts in a row the report is kept as a dead letter in
/// `callbacks.sqlite`, next to message routing's (counted in `/metrics`, listed and replayed with
/// `mynah callbacks list | replay`), and the push's other reports go on.
final class ReceiptDispatcher: Service {
    typealias Policy = MynahConfiguration.ReceiptCallbacks

    /// One report: what it says, where it goes, and how it is recorded as sent.
    struct Report: Sendable {
        enum Kind: Sendable { case accepted, delivered(userID: Int64) }
        var pushID: Int64
        var appKey: String
        var url: String
        var body: JSONValue
        var kind: Kind
    }

    let store: SQLiteBridgeStore
    let bridge: Bridge
    let outbox: CallbackOutbox?
    let secrets: [String: String]
    let client: HTTPClient
    let logger: Logger
    let pollInterval: Duration
    let policy: Policy
    let metrics: ReceiptMetrics

    init(bridge: Bridge, store: SQLiteBridgeStore, outbox: CallbackOutbox?, apps: [MynahConfiguration.App],
         policy: Policy = Policy(), factory: any MetricsFactory, client: HTTPClient = .shared,
         pollInterval: Duration = .milliseconds(200), logger: Logger) {
        self.bridge = bridge
        self.store = store
        self.outbox = outbox
        secrets = Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 })
        self.policy = policy
        metrics = ReceiptMetrics(factory: factory)
        self.client = client
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Per push: failures in a row and when to try again (in memory: a restart retries at once).
    private struct Backoff { var failures = 0; var next = ContinuousClock.now }

    /// How many pending pushes one round looks at.
    static let pageSize = 100

    /// The dead letters' destination for an app's receipt reports.
    static func destination(appKey: String) -> String { "receipts \(appKey)" }

    func run() async throws {
        var backoff: [Int64: Backoff] = [:]
        // Pages through the pending pushes, one page per round, so that pushes waiting long for their accounts
        // (delivered reports) never keep newer ones from being reported.
        var after: Int64 = 0
        await refreshDeadLetters()
        while !Task.isCancelledOrShuttingDown {
            do {
                try await replayDeadLetters()
                let page = try await store.pendingReceipts(after: after, limit: Self.pageSize)
                after = page.count == Self.pageSize ? page[page.count - 1].push.msgID : 0
                for pending in page {
                    let id = pending.push.msgID
                    if let b = backoff[id], b.next > .now { continue }
                    guard let failed = await report(pending) else {
                        backoff[id] = nil
                        continue
                    }
                    if Task.isCancelledOrShuttingDown { break }
                    var b = backoff[id] ?? Backoff()
                    b.failures += 1
                    metrics.failures.increment()
                    if b.failures >= policy.deadAfter, let outbox {
                        try await outbox.bury(Self.destination(appKey: failed.report.appKey), kind: .receipt,
                                              body: failed.report.body.serialized(), first: id, last: id, count: 1,
                                              attempts: b.failures, error: failed.error, position: nil,
                                              url: failed.report.url, now: Hub.nowMillis())
                        try await record(failed.report)
                        logger.error("push receipt callback kept as a dead letter after \(b.failures) failed attempts",
                                     metadata: ["msg_id": "\(id)", "url": "\(failed.report.url)", "error": "\(failed.error)"])
                        await refreshDeadLetters()
                        backoff[id] = nil
                        continue
                    }
                    let delay = min(policy.backoff * (1 << min(b.failures - 1, 20)), policy.maxBackoff)
                    b.next = .now + delay
                    backoff[id] = b
                    logger.warning("push receipt callback failed; retrying", metadata: [
                        "msg_id": "\(id)", "url": "\(failed.report.url)", "error": "\(failed.error)",
                        "attempt": "\(b.failures)", "retry_in": "\(delay)"])
                }
            } catch {
                logger.error("push receipts: cannot read or write their state", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdown(orSleep: pollInterval)
        }
    }

    /// Sends the receipt dead letters marked by `mynah callbacks replay`, once each.
    func replayDeadLetters() async throws {
        guard let outbox else { return }
        let letters = try await outbox.replays(kind: .receipt)
        for letter in letters {
            let appKey = String(letter.destination.dropFirst("receipts ".count))
            let failure = await post(letter.body, to: letter.url ?? "", appKey: appKey)
            if Task.isCancelledOrShuttingDown { return }
            try await outbox.replayed(letter.id, delivered: failure == nil, error: failure ?? "")
            metrics.replays.increment()
            if failure == nil { metrics.delivered.increment() }
            logger.notice("receipt dead letter replayed", metadata: ["id": "\(letter.id)", "error": "\(failure ?? "none")"])
        }
        if !letters.isEmpty { await refreshDeadLetters() }
    }

    func refreshDeadLetters() async {
        guard let outbox, let counts = try? await outbox.deadLetterCounts() else { return }
        var total = 0
        for (destination, n) in counts where destination.hasPrefix("receipts ") { total += n }
        metrics.deadLetters.set(total)
    }

    /// Records a report as sent (delivered, or kept as a dead letter).
    func record(_ report: Report) async throws {
        switch report.kind {
        case .accepted: try await store.acceptedReported(pushID: report.pushID)
        case .delivered(let userID): try await store.deliveredReported(pushID: report.pushID, userID: userID)
        }
    }

    /// Reports what is due for one push; the report that failed, with why, when a POST failed.
    func report(_ pending: SQLiteBridgeStore.PendingReceipts) async -> (report: Report, error: String)? {
        guard let callback = pending.push.push.callback else { return nil }
        let push = pending.push
        do {
            if callback.type & ReceiptCallback.accepted != 0 && !pending.acceptedReported {
                let body: JSONValue = ["msg_id": .string(String(push.msgID)), "type": .int(Int64(ReceiptCallback.accepted)),
                                       "params": .object(callback.params), "time": .int(push.push.createdAt)]
                let report = Report(pushID: push.msgID, appKey: push.push.appKey, url: callback.url, body: body,
                                    kind: .accepted)
                if let failure = await post(body.serialized(), to: callback.url, appKey: report.appKey) {
                    return (report, failure)
                }
                metrics.delivered.increment()
                try await record(report)
            }
            var finished = true
            if callback.type & ReceiptCallback.delivered != 0 {
                for d in try await bridge.deliveries(msgID: push.msgID) {
                    switch d.status {
                    case .pending, .delivered: finished = false
                    case .expired, .failed: break
                    case .received:
                        guard !pending.deliveredReported.contains(d.userID) else { continue }
                        var body: [String: JSONValue] = [
                            "msg_id": .string(String(push.msgID)), "type": .int(Int64(ReceiptCallback.delivered)),
                            "params": .object(callback.params), "appkey": .string(d.appKey),
                            "username": .string(d.username), "time": .int(d.outcomeAt ?? 0),
                        ]
                        if let alias = d.alias { body["alias"] = .string(alias) }
                        let report = Report(pushID: push.msgID, appKey: push.push.appKey, url: callback.url,
                                            body: .object(body), kind: .delivered(userID: d.userID))
                        if let failure = await post(report.body.serialized(), to: callback.url, appKey: report.appKey) {
                            return (report, failure)
                        }
                        metrics.delivered.increment()
                        try await record(report)
                    }
                }
            }
            if finished { try await store.receiptsDone(pushID: push.msgID) }
            return nil
        } catch {
            logger.error("push receipts: cannot record a report", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// POSTs one report with the pushing app's Basic credentials; `nil` on HTTP 200, otherwise what went wrong.
    func post(_ body: [UInt8], to url: String, appKey: String) async -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        let credentials = Data("\(appKey):\(secrets[appKey] ?? "")".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "mynah-receipts")
        request.body = .bytes(ByteBuffer(bytes: body))
        let (seconds, attos) = policy.timeout.components
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(seconds * 1_000_000_000 + attos / 1_000_000_000))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status.code == 200 ? nil : "HTTP \(response.status.code)"
        } catch {
            return "\(error)"
        }
    }
}

/// The receipt callbacks' metrics, labelled by nothing but the name (a push's URL is its own; too many to label).
struct ReceiptMetrics: Sendable {
    let delivered: Counter
    let failures: Counter
    let deadLetters: Meter
    let replays: Counter

    init(factory: any MetricsFactory) {
        delivered = Counter(label: "mynah_receipt_callbacks_total", dimensions: [], factory: factory)
        failures = Counter(label: "mynah_receipt_callback_failures_total", dimensions: [], factory: factory)
        deadLetters = Meter(label: "mynah_receipt_callback_dead_letters", dimensions: [], factory: factory)
        replays = Counter(label: "mynah_receipt_callback_replays_total", dimensions: [], factory: factory)
    }
}
