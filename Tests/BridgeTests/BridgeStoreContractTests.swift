import Bridge
import Foundation
import Hub
import HubPostgres
import IMProtocol
import Testing

/// The store backends the bridge's contract tests run on.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// Runs `body` with a fresh bridge store: a SQLite file in a temporary directory, or a new PostgreSQL database on the
/// server `MYNAH_TEST_POSTGRES_URL` names (the PostgreSQL case fails, never passes, when it is not set).
func withBridgeStore<T>(_ backend: Backend, _ body: (any BridgeStore) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite:
        let dir = try TempDir()
        return try await body(try SQLiteBridgeStore(path: dir.path + "/bridge.sqlite"))
    case .postgres:
        guard let url = ProcessInfo.processInfo.environment["MYNAH_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw PostgresNotConfigured()
        }
        let admin = try PostgresSettings(url: url, poolSize: 4, tls: .disable)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStorage.createDatabase(name, using: admin)
        let database: PostgresStorage
        do {
            database = try await PostgresStorage.open(admin.with(database: name))
        } catch {
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
        do {
            let result = try await body(PostgresBridgeStore(database: database))
            await database.close()
            try await PostgresStorage.dropDatabase(name, using: admin)
            return result
        } catch {
            await database.close()
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
    }
}

/// Why a PostgreSQL case cannot run.
struct PostgresNotConfigured: Error, CustomStringConvertible {
    var description: String {
        "MYNAH_TEST_POSTGRES_URL is not set: start a throwaway server with "
            + "`eval \"$(scripts/test-postgres.sh start)\"` (or run .ci/run, which does) and run the tests again"
    }
}

@Suite("BridgeStore contract")
struct BridgeStoreContractTests {
    static let app = "shopappkey"

    func push(cid: String?, sendno: String = "1") -> NewPush {
        NewPush(appKey: Self.app, cid: cid, sendno: sendno, rule: "orders",
                content: PushContent(alert: "shipped", extras: ["order_id": 42]), createdAt: 1_000, timeToLive: 60)
    }

    func delivery(_ userID: Int64, rids: [String] = [], dueAt: Int64? = nil) -> NewDelivery {
        NewDelivery(userID: userID, appKey: "chatappkey", username: "user\(userID)", alias: "alias\(userID)",
                    registrationIDs: rids, dueAt: dueAt)
    }

    @Test("devices: upsert, alias, mobile, tags added, removed and cleared", arguments: Backend.allCases)
    func devices(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            #expect(try await store.device(appKey: Self.app, registrationID: "r1") == nil)
            try await store.updateDevice(appKey: Self.app, registrationID: "r1",
                                         DeviceUpdate(alias: "al", mobile: "138", addTags: ["b", "a"]), now: 1)
            #expect(try await store.device(appKey: Self.app, registrationID: "r1")
                == DeviceRecord(registrationID: "r1", alias: "al", mobile: "138", tags: ["a", "b"]))
            try await store.updateDevice(appKey: Self.app, registrationID: "r1",
                                         DeviceUpdate(alias: "", removeTags: ["a"]), now: 2)
            #expect(try await store.device(appKey: Self.app, registrationID: "r1")
                == DeviceRecord(registrationID: "r1", alias: nil, mobile: "138", tags: ["b"]))
            try await store.updateDevice(appKey: Self.app, registrationID: "r1", DeviceUpdate(clearTags: true), now: 3)
            #expect(try await store.device(appKey: Self.app, registrationID: "r1")?.tags == [])
            #expect(try await store.device(appKey: "otherappkey", registrationID: "r1") == nil)
        }
    }

    @Test("aliases and tags resolve to devices, in order, per app", arguments: Backend.allCases)
    func aliasesAndTags(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            for rid in ["r2", "r1", "r3"] {
                try await store.updateDevice(appKey: Self.app, registrationID: rid,
                                             DeviceUpdate(alias: rid == "r3" ? "other" : "shared"), now: 1)
            }
            #expect(try await store.registrationIDs(appKey: Self.app, alias: "shared") == ["r1", "r2"])
            #expect(try await store.aliases(appKey: Self.app, registrationIDs: ["r1", "r3", "none"])
                == ["r1": "shared", "r3": "other"])
            #expect(try await store.aliasedDevices(appKey: Self.app).map(\.registrationID) == ["r1", "r2", "r3"])
            #expect(try await store.removeAlias(appKey: Self.app, alias: "shared") == 2)
            #expect(try await store.registrationIDs(appKey: Self.app, alias: "shared") == [])

            try await store.updateTag(appKey: Self.app, tag: "vip", add: ["r2", "r9"], remove: [], now: 2)
            try await store.updateTag(appKey: Self.app, tag: "new", add: ["r1"], remove: [], now: 2)
            #expect(try await store.tags(appKey: Self.app) == ["new", "vip"])
            #expect(try await store.registrationIDs(appKey: Self.app, tag: "vip") == ["r2", "r9"])
            try await store.updateTag(appKey: Self.app, tag: "vip", add: [], remove: ["r2"], now: 3)
            #expect(try await store.registrationIDs(appKey: Self.app, tag: "vip") == ["r9"])
            #expect(try await store.removeTag(appKey: Self.app, tag: "vip") == 1)
            #expect(try await store.tags(appKey: Self.app) == ["new"])
        }
    }

    @Test("bindings: set, replace, list, remove", arguments: Backend.allCases)
    func bindings(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            try await store.setBinding(appKey: Self.app, alias: "b", username: "bob", now: 1)
            try await store.setBinding(appKey: Self.app, alias: "a", username: "ann", now: 1)
            try await store.setBinding(appKey: Self.app, alias: "b", username: "bea", now: 2)
            #expect(try await store.binding(appKey: Self.app, alias: "b") == "bea")
            #expect(try await store.bindings(appKey: Self.app).map(\.alias) == ["a", "b"])
            #expect(try await store.removeBinding(appKey: Self.app, alias: "a"))
            #expect(try await store.removeBinding(appKey: Self.app, alias: "a") == false)
            #expect(try await store.binding(appKey: Self.app, alias: "a") == nil)
        }
    }

    @Test("a push with a cid seen before is a duplicate; deliveries and targets are recorded once", arguments: Backend.allCases)
    func recordPush(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (first, duplicate) = try await store.recordPush(push(cid: "c1"), deliveries: [delivery(7, rids: ["rb", "ra"])])
            #expect(!duplicate)
            let (again, repeated) = try await store.recordPush(push(cid: "c1", sendno: "2"), deliveries: [delivery(8)])
            #expect(repeated)
            #expect(again == first)
            #expect(try await store.push(appKey: Self.app, cid: "c1") == first)
            #expect(try await store.push(msgID: first.msgID) == first)
            let (other, _) = try await store.recordPush(push(cid: nil), deliveries: [])
            #expect(other.msgID > first.msgID)
            #expect(try await store.deliveries(pushID: first.msgID).map(\.userID) == [7])
            #expect(try await store.targets(pushID: first.msgID).map(\.registrationID) == ["ra", "rb"])
            #expect(try await store.pendingDeliveries().map(\.userID) == [7])
        }
    }

    @Test("a delivery moves from pending to delivered to received; the first hub ids stick", arguments: Backend.allCases)
    func deliveryLifecycle(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (p, _) = try await store.recordPush(push(cid: nil), deliveries: [delivery(7)])
            try await store.setDelivered(pushID: p.msgID, userID: 7, status: .delivered, hubMsgID: 100, seq: 3,
                                         expiresAt: 5_000, error: nil)
            try await store.setDelivered(pushID: p.msgID, userID: 7, status: .delivered, hubMsgID: 200, seq: 9,
                                         expiresAt: 6_000, error: nil)
            var d = try #require(try await store.deliveries(pushID: p.msgID).first)
            #expect(d.status == .delivered && d.hubMsgID == 100 && d.seq == 3 && d.expiresAt == 6_000)
            #expect(try await store.pendingDeliveries().isEmpty)
            #expect(try await store.expiredUnreceived(now: 5_999, limit: 10).isEmpty)
            #expect(try await store.expiredUnreceived(now: 6_000, limit: 10).map(\.userID) == [7])
            try await store.rebase(pushID: p.msgID, userID: 7, seq: 12, expiresAt: 9_000)
            try await store.setOutcome(pushID: p.msgID, userID: 7, status: .received, at: 7_000)
            d = try #require(try await store.deliveries(pushID: p.msgID).first)
            #expect(d.status == .received && d.seq == 12 && d.outcomeAt == 7_000)
            #expect(try await store.expiredUnreceived(now: 10_000, limit: 10).isEmpty)
        }
    }

    @Test("claimDue leases due deliveries once until the lease ends or they are rescheduled", arguments: Backend.allCases)
    func claimDue(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (p, _) = try await store.recordPush(push(cid: nil), deliveries: [delivery(1, dueAt: 100), delivery(2, dueAt: 300)])
            #expect(try await store.claimDue(now: 50, leaseUntil: 1_000, limit: 10).isEmpty)
            #expect(try await store.claimDue(now: 200, leaseUntil: 1_000, limit: 10).map(\.userID) == [1])
            #expect(try await store.claimDue(now: 400, leaseUntil: 1_000, limit: 10).map(\.userID) == [2])
            #expect(try await store.claimDue(now: 500, leaseUntil: 1_000, limit: 10).isEmpty)
            #expect(try await store.claimDue(now: 1_000, leaseUntil: 2_000, limit: 1).map(\.userID) == [1])
            try await store.schedule(pushID: p.msgID, userID: 2, step: 1, dueAt: 1_500)
            #expect(try await store.claimDue(now: 1_600, leaseUntil: 3_000, limit: 10).map(\.userID) == [2])
            #expect(try await store.deliveries(pushID: p.msgID).map(\.step) == [0, 1])
            try await store.schedule(pushID: p.msgID, userID: 1, step: 2, dueAt: nil)
            #expect(try await store.claimDue(now: 10_000, leaseUntil: 20_000, limit: 10).map(\.userID) == [2])
        }
    }

    @Test("two nodes racing for the same due deliveries on one PostgreSQL database claim each once")
    func claimDueRace() async throws {
        guard let url = ProcessInfo.processInfo.environment["MYNAH_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw PostgresNotConfigured()
        }
        let admin = try PostgresSettings(url: url, poolSize: 4, tls: .disable)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStorage.createDatabase(name, using: admin)
        var pools: [PostgresStorage] = []
        do {
            for _ in 0..<2 { pools.append(try await PostgresStorage.open(admin.with(database: name))) }
            let a = PostgresBridgeStore(database: pools[0]), b = PostgresBridgeStore(database: pools[1])
            let users = Array(Int64(1)...60)
            let (p, _) = try await a.recordPush(push(cid: nil), deliveries: users.map { delivery($0, dueAt: 100) })
            // Both nodes run their deadline pass at once, in small batches, until nothing is left.
            func drain(_ store: PostgresBridgeStore) async throws -> [Int64] {
                var got: [Int64] = []
                while true {
                    let batch = try await store.claimDue(now: 200, leaseUntil: 60_200, limit: 7)
                    if batch.isEmpty { return got }
                    got += batch.map(\.userID)
                }
            }
            async let fromA = drain(a)
            async let fromB = drain(b)
            let (x, y) = try await (fromA, fromB)
            #expect((x + y).sorted() == users, "a \(x), b \(y)")
            // A step run again after a node died before rescheduling it is recorded once.
            let e = EscalationRecord(pushID: p.msgID, userID: 1, step: 0, action: "resend", at: 200, outcome: "ok")
            async let ra: Void = a.recordEscalation(e)
            async let rb: Void = b.recordEscalation(e)
            _ = try await (ra, rb)
            #expect(try await a.escalations(pushID: p.msgID).count == 1)
        } catch {
            for pool in pools { await pool.close() }
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
        for pool in pools { await pool.close() }
        try await PostgresStorage.dropDatabase(name, using: admin)
    }

    @Test("an escalation step is recorded once", arguments: Backend.allCases)
    func escalationRecordedOnce(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (p, _) = try await store.recordPush(push(cid: nil), deliveries: [delivery(1)])
            let a = EscalationRecord(pushID: p.msgID, userID: 1, step: 0, action: "resend", at: 10, outcome: "ok")
            let again = EscalationRecord(pushID: p.msgID, userID: 1, step: 0, action: "resend", at: 70, outcome: "ok")
            try await store.recordEscalation(a)
            try await store.recordEscalation(again)
            #expect(try await store.escalations(pushID: p.msgID) == [a])
        }
    }

    @Test("escalations are listed in the order recorded", arguments: Backend.allCases)
    func escalations(_ backend: Backend) async throws {
        try await withBridgeStore(backend) { store in
            let (p, _) = try await store.recordPush(push(cid: nil), deliveries: [delivery(1)])
            let a = EscalationRecord(pushID: p.msgID, userID: 1, step: 1, action: "resend", at: 10, outcome: "ok")
            let b = EscalationRecord(pushID: p.msgID, userID: 1, step: 2, action: "webhook", at: 20, outcome: "http 500")
            try await store.recordEscalation(a)
            try await store.recordEscalation(b)
            #expect(try await store.escalations(pushID: p.msgID) == [a, b])
            #expect(try await store.escalations(pushID: p.msgID + 1) == [])
        }
    }
}
