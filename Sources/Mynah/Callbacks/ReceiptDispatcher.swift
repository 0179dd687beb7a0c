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
/// only after an HTTP 200, so each goes out at least once, across restarts and kill -9. Each round claims the pushes
/// with something to report for this dispatcher's `owner` (see ``ReceiptStore``): on PostgreSQL one dispatcher runs
/// per node and each push is handled by one of them, and a node that dies leaves its claims to the others once they
/// lapse (`lease`). Failures are retried with capped exponential backoff, kept with the push (so every node honours
/// it); after `deadAfter` failed attempts in a row the report is kept as a dead letter in `callbacks.sqlite`, next to
/// message routing's (counted in `/metrics`, listed and replayed with `mynah callbacks list | replay`), and the push's
/// other reports go on. Every report carries a stable `id`, for a receiver to drop the repeat a takeover may send.
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

    let store: any ReceiptStore
    let bridge: Bridge
    let outbox: (any RoutingStore)?
    let secrets: [String: String]
    let client: HTTPClient
    let logger: Logger
    let pollInterval: Duration
    let policy: Policy
    let metrics: ReceiptMetrics
    /// Whose claims these are: the node (a fresh id per process on PostgreSQL; one name on SQLite, whose single node
    /// takes its own claims back at once after a restart).
    let owner: String
    /// How long a claim holds (ms): a push whose node died is taken over that long after it was claimed.
    let leaseMillis: Int64

    init(bridge: Bridge, store: any ReceiptStore, outbox: (any RoutingStore)?, apps: [MynahConfiguration.App],
         policy: Policy = Policy(), factory: any MetricsFactory, client: HTTPClient = .shared,
         pollInterval: Duration = .milliseconds(200), owner: String = UUID().uuidString,
         lease: Duration = .seconds(60), logger: Logger) {
        self.bridge = bridge
        self.store = store
        self.outbox = outbox
        secrets = Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 })
        self.policy = policy
        metrics = ReceiptMetrics(factory: factory)
        self.client = client
        self.pollInterval = pollInterval
        self.owner = owner
        let (seconds, attos) = lease.components
        leaseMillis = max(1, seconds * 1000 + attos / 1_000_000_000_000_000)
        self.logger = logger
    }

    /// How many pushes one round claims.
    static let pageSize = 100

    /// The dead letters' destination for an app's receipt reports.
    static func destination(appKey: String) -> String { "receipts \(appKey)" }

    /// The stable id of a report (the same whichever node posts it, however often), for receivers to drop repeats.
    static func reportID(msgID: Int64, type: Int, userID: Int64? = nil) -> String {
        "receipt:\(msgID):\(type)" + (userID.map { ":\($0)" } ?? "")
    }

    func run() async throws {
        await refreshDeadLetters()
        // Pages through the pending pushes, one page per round, so that pushes waiting long for their accounts
        // never keep newer ones from being observed.
        var observedAfter: Int64 = 0
        while !Task.isCancelledOrShuttingDown {
            do {
                try await replayDeadLetters()
                do {
                    observedAfter = try await observe(after: observedAfter)
                } catch {
                    observedAfter = 0
                    logger.error("push receipts: cannot observe receipts", metadata: ["error": "\(error)"])
                }
                try await round()
            } catch {
                logger.error("push receipts: cannot read or write their state", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdown(orSleep: pollInterval)
        }
    }

    /// Brings the receipts of one page of pushes waiting for their accounts up to date (the bridge notices that an
    /// account acknowledged a delivery when it reads the delivery), so that their reports become due for a claim;
    /// reads, and writes only what changed. Returns where the next page starts.
    func observe(after: Int64) async throws -> Int64 {
        let page = try await store.pendingReceipts(after: after, limit: Self.pageSize)
        for pending in page where (pending.push.push.callback?.type ?? 0) & ReceiptCallback.delivered != 0 {
            if Task.isCancelledOrShuttingDown { break }
            _ = try await bridge.deliveries(msgID: pending.push.msgID)
        }
        return page.count == Self.pageSize ? page[page.count - 1].push.msgID : 0
    }

    /// Claims the pushes with something to report and reports it; each claim is given back with when to try again.
    /// Pushes left once half the lease went by (or at shutdown) are given back untouched, before the claim lapses.
    func round() async throws {
        let claimedAt = Hub.nowMillis()
        let page = try await store.claimReceipts(owner: owner, now: claimedAt, until: claimedAt + leaseMillis,
                                                 limit: Self.pageSize)
        func giveBack(from index: Int) async throws {
            for left in page[index...] {
                try await store.releaseReceipts(pushID: left.push.msgID, owner: owner, retryAt: 0, failures: left.failures)
            }
        }
        for (index, pending) in page.enumerated() {
            let id = pending.push.msgID
            if Task.isCancelledOrShuttingDown || Hub.nowMillis() - claimedAt > leaseMillis / 2 {
                return try await giveBack(from: index)
            }
            guard let failed = await report(pending) else {
                try await store.releaseReceipts(pushID: id, owner: owner, retryAt: 0, failures: 0)
                continue
            }
            // A POST cut short by the shutdown is no failure of the receiver's.
            if Task.isCancelledOrShuttingDown { return try await giveBack(from: index) }
            let failures = pending.failures + 1
            metrics.failures.increment()
            if failures >= policy.deadAfter, let outbox {
                try await outbox.bury(Self.destination(appKey: failed.report.appKey), kind: .receipt,
                                      body: failed.report.body.serialized(), first: id, last: id, count: 1,
                                      attempts: failures, error: failed.error, position: nil,
                                      url: failed.report.url, now: Hub.nowMillis())
                try await record(failed.report)
                logger.error("push receipt callback kept as a dead letter after \(failures) failed attempts",
                             metadata: ["msg_id": "\(id)", "url": "\(failed.report.url)", "error": "\(failed.error)"])
                await refreshDeadLetters()
                try await store.releaseReceipts(pushID: id, owner: owner, retryAt: 0, failures: 0)
                continue
            }
            let delay = min(policy.backoff * (1 << min(failures - 1, 20)), policy.maxBackoff)
            let (seconds, attos) = delay.components
            try await store.releaseReceipts(pushID: id, owner: owner,
                                            retryAt: Hub.nowMillis() + seconds * 1000 + attos / 1_000_000_000_000_000,
                                            failures: failures)
            logger.warning("push receipt callback failed; retrying", metadata: [
                "msg_id": "\(id)", "url": "\(failed.report.url)", "error": "\(failed.error)",
                "attempt": "\(failures)", "retry_in": "\(delay)"])
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
    func report(_ pending: PendingReceipts) async -> (report: Report, error: String)? {
        guard let callback = pending.push.push.callback else { return nil }
        let push = pending.push
        do {
            if callback.type & ReceiptCallback.accepted != 0 && !pending.acceptedReported {
                let body: JSONValue = ["id": .string(Self.reportID(msgID: push.msgID, type: ReceiptCallback.accepted)),
                                       "msg_id": .string(String(push.msgID)), "type": .int(Int64(ReceiptCallback.accepted)),
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
                            "id": .string(Self.reportID(msgID: push.msgID, type: ReceiptCallback.delivered,
                                                        userID: d.userID)),
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
