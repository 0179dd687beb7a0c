import Bridge
import IMProtocol
import Testing

/// The store's calls behind the console's Bridge screen and dashboard, on every backend.
@Suite("BridgeStore console queries")
struct BridgeStoreConsoleTests {
    static let app = "shopappkey"

    func push(_ appKey: String = Self.app, sendno: String) -> NewPush {
        NewPush(appKey: appKey, cid: nil, sendno: sendno, rule: "orders", content: PushContent(alert: "shipped", extras: [:]),
                createdAt: 1_000, timeToLive: 60)
    }

    func delivery(_ userID: Int64, dueAt: Int64? = nil) -> NewDelivery {
        NewDelivery(userID: userID, appKey: "chatappkey", username: "user\(userID)", alias: nil, registrationIDs: [],
                    dueAt: dueAt)
    }

    @Test("recent pushes newest first, per app, limited", arguments: Backend.allCases)
    func recentPushes(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            var ids: [Int64] = []
            for n in 1...3 { ids.append(try await store.recordPush(push(sendno: "\(n)"), deliveries: []).push.msgID) }
            _ = try await store.recordPush(push("otherappkey", sendno: "x"), deliveries: [])
            #expect(try await store.recentPushes(appKey: Self.app, limit: 2).map(\.msgID) == [ids[2], ids[1]])
            #expect(try await store.recentPushes(appKey: Self.app, limit: 10).map(\.push.sendno) == ["3", "2", "1"])
            #expect(try await store.recentPushes(appKey: "nobody", limit: 10).isEmpty)
        }
    }

    @Test("delivery counts by status and open deliveries by deadline", arguments: Backend.allCases)
    func countsAndOpen(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (p, _) = try await store.recordPush(push(sendno: "1"),
                                                    deliveries: [delivery(1, dueAt: 500), delivery(2, dueAt: 300),
                                                                 delivery(3), delivery(4)])
            _ = try await store.recordPush(push("otherappkey", sendno: "x"), deliveries: [delivery(9)])
            for user: Int64 in [1, 2, 3] {
                try await store.setDelivered(pushID: p.msgID, userID: user, status: .delivered, hubMsgID: 10 + user,
                                             seq: user, expiresAt: nil, error: nil)
            }
            try await store.setOutcome(pushID: p.msgID, userID: 3, status: .received, at: 2_000)
            let counts = try await store.deliveryCounts(appKey: Self.app)
            #expect(counts == [.delivered: 2, .received: 1, .pending: 1])
            let open = try await store.openDeliveries(appKey: Self.app, limit: 10)
            #expect(open.map(\.userID) == [2, 1])
            #expect(try await store.openDeliveries(appKey: Self.app, limit: 1).map(\.userID) == [2])
            #expect(try await store.deliveryCounts(appKey: "nobody").isEmpty)
        }
    }
}
