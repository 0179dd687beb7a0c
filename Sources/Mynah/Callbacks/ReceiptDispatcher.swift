import AsyncHTTPClient
import Bridge
import Foundation
import Hub
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Reports the receipts of bridged pushes to their `callback` URLs (JPush's push `callback: {url, params, type}`):
/// type 8 once the push is accepted, type 1 each time an account it went to acknowledges it on a device.
///
/// The bridge's store is the outbox: callbacks are stored with their push and a report is marked sent only after an
/// HTTP 200, so each goes out at least once, across restarts and kill -9. Failures are retried with capped
/// exponential backoff; a push's reports stop when it is finished (everything reported, or every delivery received,
/// expired or failed) or after `giveUpAfter` of failing (logged).
final class ReceiptDispatcher: Service {
    let store: SQLiteBridgeStore
    let bridge: Bridge
    let secrets: [String: String]
    let client: HTTPClient
    let logger: Logger
    let pollInterval: Duration
    let timeout: Duration = .seconds(5)
    /// The longest a push's reports are retried.
    let giveUpAfter: Duration = .seconds(86400)

    init(bridge: Bridge, store: SQLiteBridgeStore, apps: [MynahConfiguration.App], client: HTTPClient = .shared,
         pollInterval: Duration = .milliseconds(200), logger: Logger) {
        self.bridge = bridge
        self.store = store
        secrets = Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 })
        self.client = client
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Per push: failures in a row and when to try again (in memory: a restart retries at once).
    private struct Backoff { var failures = 0; var next = ContinuousClock.now; var since = ContinuousClock.now }

    func run() async throws {
        var backoff: [Int64: Backoff] = [:]
        while !Task.isCancelledOrShuttingDown {
            do {
                for pending in try await store.pendingReceipts(limit: 100) {
                    let id = pending.push.msgID
                    if let b = backoff[id], b.next > .now { continue }
                    if await report(pending) {
                        backoff[id] = nil
                    } else {
                        var b = backoff[id] ?? Backoff()
                        b.failures += 1
                        b.next = .now + min(.milliseconds(100) * (1 << min(b.failures, 12)), .seconds(300))
                        backoff[id] = b
                        if b.since.duration(to: .now) > giveUpAfter {
                            logger.error("push receipt callback given up", metadata: ["msg_id": "\(id)"])
                            try await store.receiptsDone(pushID: id)
                            backoff[id] = nil
                        }
                    }
                }
            } catch {
                logger.error("push receipts: cannot read the bridge's store", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdown(orSleep: pollInterval)
        }
    }

    /// Reports what is due for one push; false when a POST failed.
    func report(_ pending: SQLiteBridgeStore.PendingReceipts) async -> Bool {
        guard let callback = pending.push.push.callback else { return true }
        let push = pending.push
        do {
            if callback.type & ReceiptCallback.accepted != 0 && !pending.acceptedReported {
                let body: JSONValue = ["msg_id": .string(String(push.msgID)), "type": .int(Int64(ReceiptCallback.accepted)),
                                       "params": .object(callback.params), "time": .int(push.push.createdAt)]
                guard await post(body, to: callback.url, appKey: push.push.appKey) else { return false }
                try await store.acceptedReported(pushID: push.msgID)
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
                        guard await post(.object(body), to: callback.url, appKey: push.push.appKey) else { return false }
                        try await store.deliveredReported(pushID: push.msgID, userID: d.userID)
                    }
                }
            }
            if finished { try await store.receiptsDone(pushID: push.msgID) }
            return true
        } catch {
            logger.error("push receipts: cannot record a report", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// POSTs one report with the pushing app's Basic credentials; true on HTTP 200.
    func post(_ body: JSONValue, to url: String, appKey: String) async -> Bool {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        let credentials = Data("\(appKey):\(secrets[appKey] ?? "")".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "mynah-receipts")
        request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        let (seconds, attos) = timeout.components
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(seconds * 1_000_000_000 + attos / 1_000_000_000))
            _ = try await response.body.collect(upTo: 1 << 20)
            if response.status.code == 200 { return true }
            logger.warning("push receipt callback failed", metadata: ["url": "\(url)", "status": "\(response.status.code)"])
        } catch {
            logger.warning("push receipt callback failed", metadata: ["url": "\(url)", "error": "\(error)"])
        }
        return false
    }
}
