import Bridge
import Foundation
import Hub
import HubPostgres
import IMProtocol
import Logging
import Testing

/// A push's `callback` is kept with its push, on SQLite and on PostgreSQL, and its reports are handed out by claims:
/// one owner at a time, only when there is something to report, retried from the time the owner set, recorded once.
@Suite struct ReceiptCallbackStoreTests {
    static let rule = BridgeRule(name: "shop", pushAppKey: Fixture.shop.appKey, accountsAppKey: Fixture.chat.appKey,
                                 alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot")

    /// A bridge on `store` over a SQLite hub where alice is registered.
    static func bridge(on store: any BridgeStore, dir: TempDir) async throws -> Bridge {
        let hub = try await Hub(configuration: .init(apps: [Fixture.shop, Fixture.chat], passwordCost: 4),
                                store: SQLiteHubStore(path: dir.path + "/hub.sqlite"))
        _ = try await hub.register(appKey: Fixture.chat.appKey, NewUser(username: "alice", password: "alice-pass"),
                                   kind: .user)
        var logger = Logger(label: "mynah.test.bridge")
        logger.logLevel = .warning
        return try await Bridge(configuration: .init(rules: [rule]), hub: hub, store: store, logger: logger)
    }

    static func push(_ callback: ReceiptCallback?, at: Int64 = 1_000) -> NewPush {
        var push = NewPush(appKey: Fixture.shop.appKey, cid: nil, sendno: "1", rule: "shop",
                           content: PushContent(alert: "hi"), createdAt: at, timeToLive: 60)
        push.callback = callback
        return push
    }

    static func delivery(_ userID: Int64) -> NewDelivery {
        NewDelivery(userID: userID, appKey: Fixture.chat.appKey, username: "u\(userID)", alias: nil, registrationIDs: [],
                    dueAt: nil)
    }

    @Test(arguments: Backend.allCases)
    func aPushWithACallbackIsKeptWithItsPush(_ backend: Backend) async throws {
        let dir = try TempDir()
        try await withBridgeStore(backend) { store in
            #expect(store.keepsReceiptCallbacks)
            let bridge = try await Self.bridge(on: store, dir: dir)
            var request = PushRequest(audience: .filter(.init(alias: ["uid_alice"])), content: PushContent(alert: "hi"))
            request.callback = ReceiptCallback(url: "http://127.0.0.1:9/hook", params: ["order": "42"], type: 9)
            let accepted = try await bridge.push(request, appKey: Fixture.shop.appKey)
            #expect(try await bridge.push(msgID: accepted.msgID, appKey: Fixture.shop.appKey).push.callback
                    == request.callback)
            // A push without one is nobody's receipt work.
            request.callback = nil
            let plain = try await bridge.push(request, appKey: Fixture.shop.appKey)
            #expect(try await bridge.push(msgID: plain.msgID, appKey: Fixture.shop.appKey).push.callback == nil)
            let receipts = try #require(store as? any ReceiptStore)
            #expect(try await receipts.pendingReceipts(limit: 10).map(\.push.msgID) == [accepted.msgID])
        }
    }

    @Test(arguments: Backend.allCases)
    func pendingReceiptsArePagedSoOldPushesNeverHideNewOnes(_ backend: Backend) async throws {
        let dir = try TempDir()
        try await withBridgeStore(backend) { bridgeStore in
            let bridge = try await Self.bridge(on: bridgeStore, dir: dir)
            var ids: [Int64] = []
            for i in 0..<3 {
                var request = PushRequest(audience: .filter(.init(alias: ["uid_alice"])), content: PushContent(alert: "p\(i)"))
                request.callback = ReceiptCallback(url: "http://127.0.0.1:9/hook", type: 1)
                ids.append(try await bridge.push(request, appKey: Fixture.shop.appKey).msgID)
            }
            let store = try #require(bridgeStore as? any ReceiptStore)
            #expect(try await store.pendingReceipts(limit: 2).map(\.push.msgID) == Array(ids.prefix(2)))
            #expect(try await store.pendingReceipts(after: ids[1], limit: 2).map(\.push.msgID) == [ids[2]])
            try await store.receiptsDone(pushID: ids[0])
            #expect(try await store.pendingReceipts(limit: 2).map(\.push.msgID) == Array(ids.suffix(2)))
        }
    }

    @Test(arguments: Backend.allCases)
    func claimsHandOutOnlyWhatIsDueToOneOwnerAtATime(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { bridgeStore in
            let store = try #require(bridgeStore as? any ReceiptStore)
            let hook = "http://127.0.0.1:9/hook"
            // accepted due; delivered only, its account not acknowledged yet; both.
            let (a, _) = try await store.recordPush(Self.push(ReceiptCallback(url: hook, type: 8)), deliveries: [Self.delivery(1)])
            let (b, _) = try await store.recordPush(Self.push(ReceiptCallback(url: hook, type: 1)), deliveries: [Self.delivery(1)])
            let (c, _) = try await store.recordPush(Self.push(ReceiptCallback(url: hook, type: 9)), deliveries: [Self.delivery(1)])
            _ = try await store.recordPush(Self.push(nil), deliveries: [Self.delivery(1)])
            try await store.setDelivered(pushID: b.msgID, userID: 1, status: .delivered, hubMsgID: 5, seq: 1,
                                         expiresAt: 90_000, error: nil)

            #expect(try await store.claimReceipts(owner: "x", now: 2_000, until: 62_000, limit: 1).map(\.push.msgID) == [a.msgID])
            #expect(try await store.claimReceipts(owner: "y", now: 2_000, until: 62_000, limit: 10).map(\.push.msgID) == [c.msgID])
            // Nothing is due for b; a and c are held; an owner gets its own claims back.
            #expect(try await store.claimReceipts(owner: "z", now: 3_000, until: 63_000, limit: 10).isEmpty)
            #expect(try await store.claimReceipts(owner: "y", now: 3_000, until: 163_000, limit: 10).map(\.push.msgID) == [c.msgID])
            // x dies: its claim lapses to the others.
            let taken = try await store.claimReceipts(owner: "z", now: 62_001, until: 122_001, limit: 10)
            #expect(taken.map(\.push.msgID) == [a.msgID])
            #expect(taken.first?.push.push.callback?.type == 8 && taken.first?.acceptedReported == false)

            // z fails to report a: it may be retried from the time it set, by anyone, with its failures counted.
            try await store.releaseReceipts(pushID: a.msgID, owner: "z", retryAt: 70_000, failures: 3)
            try await store.releaseReceipts(pushID: c.msgID, owner: "z", retryAt: 0, failures: 9)  // not z's: ignored
            #expect(try await store.claimReceipts(owner: "x", now: 69_999, until: 129_999, limit: 10).isEmpty)
            let retried = try await store.claimReceipts(owner: "x", now: 70_000, until: 130_000, limit: 10)
            #expect(retried.map(\.push.msgID) == [a.msgID] && retried.first?.failures == 3)
            try await store.acceptedReported(pushID: a.msgID)
            try await store.releaseReceipts(pushID: a.msgID, owner: "x", retryAt: 0, failures: 0)
            // Reported and nothing to wait for: a is claimed once more, to be marked done.
            let finishing = try await store.claimReceipts(owner: "x", now: 70_001, until: 130_001, limit: 10)
            #expect(finishing.map(\.push.msgID) == [a.msgID] && finishing.first?.acceptedReported == true)
            try await store.receiptsDone(pushID: a.msgID)
            #expect(try await store.claimReceipts(owner: "q", now: 200_000, until: 260_000, limit: 10).map(\.push.msgID)
                    == [c.msgID])

            // b's account acknowledges: its report is due, recorded once however often, then b has nothing to wait for.
            try await store.setOutcome(pushID: b.msgID, userID: 1, status: .received, at: 80_000)
            let due = try await store.claimReceipts(owner: "x", now: 300_000, until: 360_000, limit: 10)
            #expect(due.map(\.push.msgID) == [b.msgID, c.msgID])
            try await store.deliveredReported(pushID: b.msgID, userID: 1)
            try await store.deliveredReported(pushID: b.msgID, userID: 1)
            let pending = try await store.pendingReceipts(limit: 10)
            #expect(pending.first { $0.push.msgID == b.msgID }?.deliveredReported == [1])
            try await store.receiptsDone(pushID: b.msgID)
            try await store.receiptsDone(pushID: c.msgID)
            #expect(try await store.pendingReceipts(limit: 10).isEmpty)
            #expect(try await store.claimReceipts(owner: "x", now: 900_000, until: 960_000, limit: 10).isEmpty)
        }
    }

    @Test("two nodes racing for the same receipts on one PostgreSQL database claim each push once")
    func claimRace() async throws {
        guard let url = ProcessInfo.processInfo.environment["MYNAH_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw PostgresNotConfigured()
        }
        let admin = try PostgresSettings(url: url, poolSize: 4, tls: .disable)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStorage.createDatabase(name, using: admin)
        var pools: [PostgresStorage] = []
        do {
            // Both nodes start (and migrate) at once.
            async let first = PostgresStorage.open(admin.with(database: name))
            async let second = PostgresStorage.open(admin.with(database: name))
            pools = try await [first, second]
            let a = PostgresBridgeStore(database: pools[0]), b = PostgresBridgeStore(database: pools[1])
            var ids: [Int64] = []
            for _ in 0..<60 {
                ids.append(try await a.recordPush(Self.push(ReceiptCallback(url: "http://127.0.0.1:9/hook", type: 8)),
                                                  deliveries: []).push.msgID)
            }
            func drain(_ store: PostgresBridgeStore, _ owner: String) async throws -> [Int64] {
                var got: [Int64] = []
                while true {
                    let batch = try await store.claimReceipts(owner: owner, now: 2_000, until: 62_000, limit: 7)
                    if batch.isEmpty { return got }
                    got += batch.map(\.push.msgID)
                    for p in batch { try await store.acceptedReported(pushID: p.push.msgID) }
                    for p in batch { try await store.receiptsDone(pushID: p.push.msgID) }
                }
            }
            async let fromA = drain(a, "a")
            async let fromB = drain(b, "b")
            let (x, y) = try await (fromA, fromB)
            #expect((x + y).sorted() == ids, "a \(x), b \(y)")
        } catch {
            for pool in pools { await pool.close() }
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
        for pool in pools { await pool.close() }
        try await PostgresStorage.dropDatabase(name, using: admin)
    }
}
