import Bridge
import Foundation
import Hub
import HubPostgres
import IMProtocol
import Logging
import Prometheus
import Testing
import MynahTesting
@testable import Mynah

/// Push receipt callbacks with several nodes on one PostgreSQL database: each node's dispatcher claims the pushes it
/// reports, so every report is posted once, and the pushes a dead node had claimed are reported by another once its
/// claim lapsed.
@Suite struct ReceiptClaimTests {
    static let hook = "/hook"

    /// A second node's dispatcher on its own pool of `settings`' database, reading deliveries through `bridge`.
    static func withSecondDispatcher(_ settings: PostgresSettings, bridge: Bridge, apps: [MynahConfiguration.App],
                                     _ body: () async throws -> Void) async throws {
        let database = try await PostgresStorage.open(settings)
        var logger = Logger(label: "mynah.test.receipts")
        logger.logLevel = .critical
        let dispatcher = ReceiptDispatcher(
            bridge: bridge, store: PostgresBridgeStore(database: database), outbox: nil, apps: apps,
            factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()),
            pollInterval: .milliseconds(20), owner: "node-b", logger: logger)
        let running = Task { try await dispatcher.run() }
        do {
            try await body()
        } catch {
            running.cancel()
            _ = try? await running.value
            await database.close()
            throw error
        }
        running.cancel()
        _ = try? await running.value
        await database.close()
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool)
        async rethrows -> Bool {
        try await ClusterTests.eventually(within: timeout, condition)
    }

    @Test func theLeaseIsReadAndMustOutlastOnePost() throws {
        let c = try BridgeConfigurationTests.parse("  receipt_callbacks: { timeout: 2s, lease: 15s }\n")
        #expect(c.bridge.receiptCallbacks.lease == .seconds(15) && c.bridge.receiptCallbacks.timeout == .seconds(2))
        #expect(MynahConfiguration.ReceiptCallbacks().lease == .seconds(60))
        do {
            _ = try BridgeConfigurationTests.parse("  receipt_callbacks: { timeout: 2s, lease: 2s }\n")
            Issue.record("a lease no longer than one POST was accepted")
        } catch {
            #expect(error.description.contains("bridge.receipt_callbacks.lease: expected more than timeout"),
                    "\(error.description)")
        }
    }

    @Test func twoNodesOnOnePostgresPostEachReceiptOnce() async throws {
        try await TestPostgres.withFreshDatabase { settings, _ in
            let receiver = RoutingReceiver()
            try await receiver.run { rport in
                try await Demo.withDaemon(configure: { c in
                    BridgeDemo.configure(&c)
                    c.storage = StorageSection(postgres: settings)
                }) { daemon, port in
                    try await Self.withSecondDispatcher(settings, bridge: daemon.bridge, apps: daemon.configuration.apps) {
                        let log = ReceivedLog(receiver)
                        try await Demo.register(daemon, "alice", password: "alice-pass")
                        try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
                        var pushes: [Int64] = []
                        for i in 0..<30 {
                            pushes.append(try await BridgeDemo.push(port, ReceiptCallbackTests.withCallback(
                                BridgeDemo.alert("p\(i)", aliases: ["uid_alice"]), url: "http://127.0.0.1:\(rport)\(Self.hook)",
                                type: 8)))
                        }
                        var reported: [String: Int] = [:]
                        while reported.count < pushes.count {
                            let body = try JSONValue.parse(try await log.next().body)
                            let msgID = body["msg_id"]?.stringValue ?? ""
                            #expect(body["id"]?.stringValue == "receipt:\(msgID):8")
                            reported[msgID, default: 0] += 1
                        }
                        // Once every push is recorded done, nobody posts again: what arrived is all there is.
                        let store = try #require(daemon.bridge.store as? any ReceiptStore)
                        #expect(try await Self.eventually { try await store.pendingReceipts(limit: 100).isEmpty })
                        #expect(Set(reported.keys) == Set(pushes.map(String.init)))
                        #expect(reported.values.allSatisfy { $0 == 1 }, "\(reported)")
                        #expect(receiver.count == pushes.count)
                    }
                }
            }
        }
    }

    @Test func pushesClaimedByANodeThatDiedAreReportedByAnotherOnceTheClaimLapses() async throws {
        try await TestPostgres.withFreshDatabase { settings, _ in
            // A node accepted pushes, claimed their reports and died before posting any (its claims hold 3 s).
            let database = try await PostgresStorage.open(settings)
            let dead = PostgresBridgeStore(database: database)
            let receiver = RoutingReceiver()
            try await receiver.run { rport in
                var pushes: [Int64] = []
                for i in 0..<5 {
                    var push = NewPush(appKey: Demo.appKey, cid: nil, sendno: "\(i)", rule: "demo",
                                       content: PushContent(alert: "p\(i)"), createdAt: Hub.nowMillis(), timeToLive: 60)
                    push.callback = ReceiptCallback(url: "http://127.0.0.1:\(rport)\(Self.hook)", params: ["i": .int(Int64(i))],
                                                    type: 8)
                    pushes.append(try await dead.recordPush(push, deliveries: []).push.msgID)
                }
                let expected = pushes
                let claimedAt = Hub.nowMillis()
                let until = claimedAt + 3_000
                let claimed = try await dead.claimReceipts(owner: "dead-node", now: claimedAt, until: until, limit: 100)
                #expect(claimed.map(\.push.msgID) == pushes)
                await database.close()

                try await Demo.withDaemon(configure: { c in
                    BridgeDemo.configure(&c)
                    c.storage = StorageSection(postgres: settings)
                }) { daemon, _ in
                    let log = ReceivedLog(receiver)
                    // While the dead node's claims hold, the live node leaves its pushes alone ...
                    let early = await Self.eventually(within: .milliseconds(max(0, until - 500 - Hub.nowMillis()))) {
                        receiver.count > 0
                    }
                    #expect(!early, "a push was reported while another node's claim on it held")
                    // ... and reports each once they lapsed.
                    var reported: [String: Int] = [:]
                    while reported.count < expected.count {
                        let body = try JSONValue.parse(try await log.next().body)
                        #expect(Hub.nowMillis() >= until)
                        reported[body["msg_id"]?.stringValue ?? "", default: 0] += 1
                    }
                    let store = try #require(daemon.bridge.store as? any ReceiptStore)
                    #expect(try await Self.eventually { try await store.pendingReceipts(limit: 100).isEmpty })
                    #expect(Set(reported.keys) == Set(expected.map(String.init)))
                    #expect(receiver.count == expected.count)
                }
            }
        }
    }
}
