import Bridge
import Foundation
import Hub
import IMProtocol
import Logging
import Testing

/// A push's `callback` is kept by a store that can report it, and refused, naming the field, by one that would drop it.
@Suite struct ReceiptCallbackStoreTests {
    @Test(arguments: Backend.allCases)
    func aPushWithACallbackIsKeptOrRefusedNeverDropped(_ backend: Backend) async throws {
        let dir = try TempDir()
        let hub = try await Hub(configuration: .init(apps: [Fixture.shop, Fixture.chat], passwordCost: 4),
                                store: SQLiteHubStore(path: dir.path + "/hub.sqlite"))
        _ = try await hub.register(appKey: Fixture.chat.appKey, NewUser(username: "alice", password: "alice-pass"),
                             kind: .user)
        try await withBridgeStore(backend) { store in
            var logger = Logger(label: "mynah.test.bridge")
            logger.logLevel = .warning
            let rule = BridgeRule(name: "shop", pushAppKey: Fixture.shop.appKey, accountsAppKey: Fixture.chat.appKey,
                                  alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot")
            let bridge = try await Bridge(configuration: .init(rules: [rule]), hub: hub, store: store, logger: logger)
            var request = PushRequest(audience: .filter(.init(alias: ["uid_alice"])), content: PushContent(alert: "hi"))
            request.callback = ReceiptCallback(url: "http://127.0.0.1:9/hook", params: ["order": "42"], type: 9)
            if store.keepsReceiptCallbacks {
                let accepted = try await bridge.push(request, appKey: Fixture.shop.appKey)
                #expect(try await bridge.push(msgID: accepted.msgID, appKey: Fixture.shop.appKey).push.callback
                        == request.callback)
            } else {
                do throws(BridgeError) {
                    _ = try await bridge.push(request, appKey: Fixture.shop.appKey)
                    Issue.record("a push whose callback the store would drop was accepted")
                } catch {
                    #expect(error.code == 1009 && "\(error)".contains("callback"), "\(error)")
                }
            }
            #expect(store.keepsReceiptCallbacks == (backend == .sqlite))
        }
    }

    @Test func pendingReceiptsArePagedSoOldPushesNeverHideNewOnes() async throws {
        let f = try await Fixture.open(rules: [BridgeRule(
            name: "shop", pushAppKey: Fixture.shop.appKey, accountsAppKey: Fixture.chat.appKey,
            alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot")])
        try await f.register("alice")
        var ids: [Int64] = []
        for i in 0..<3 {
            var request = PushRequest(audience: .filter(.init(alias: ["uid_alice"])), content: PushContent(alert: "p\(i)"))
            request.callback = ReceiptCallback(url: "http://127.0.0.1:9/hook", type: 1)
            ids.append(try await f.bridge.push(request, appKey: Fixture.shop.appKey).msgID)
        }
        let store = try #require(f.bridge.store as? SQLiteBridgeStore)
        #expect(try await store.pendingReceipts(limit: 2).map(\.push.msgID) == Array(ids.prefix(2)))
        #expect(try await store.pendingReceipts(after: ids[1], limit: 2).map(\.push.msgID) == [ids[2]])
        try await store.receiptsDone(pushID: ids[0])
        #expect(try await store.pendingReceipts(limit: 2).map(\.push.msgID) == Array(ids.suffix(2)))
    }
}
