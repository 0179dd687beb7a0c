import Foundation
import Hub
@testable import HubPostgres
import IMProtocol
import Testing

/// Two nodes (two pools, two ``PostgresCluster``s, two hubs) on one PostgreSQL database: delivery through
/// `LISTEN/NOTIFY`, the catch-up read that closes the gap of a lost notification, and presence across nodes.
@Suite struct PostgresClusterTests {
    /// Two pools on one fresh database; each closes (stopping its cluster) when `body` ends.
    static func withTwoPools<T>(_ body: (PostgresStorage, PostgresStorage) async throws -> T) async throws -> T {
        try await TestPostgres.withFreshDatabase { settings in
            let a = try await PostgresStorage.open(settings)
            let b: PostgresStorage
            do { b = try await PostgresStorage.open(settings) } catch { await a.close(); throw error }
            do {
                let result = try await body(a, b)
                await a.close()
                await b.close()
                return result
            } catch {
                await a.close()
                await b.close()
                throw error
            }
        }
    }

    static func hub(_ database: PostgresStorage, bus: any InboxNotificationBus,
                    presence: any PresenceRegistry = Presence()) async throws -> Hub {
        try await Hub(configuration: .init(apps: TestApps.all, passwordCost: 4), store: PostgresHubStore(database: database),
                      bus: bus, presence: presence)
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(within timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func aSessionOnAnotherNodeHearsOfEachMessageThroughNotify() async throws {
        try await Self.withTwoPools { a, b in
            // An hour between catch-up reads: past the first entry, only a notification can wake Bob's session.
            let nodeA = try await PostgresCluster.start(database: a, interval: .seconds(3600))
            let nodeB = try await PostgresCluster.start(database: b, interval: .seconds(3600))
            let hubA = try await Self.hub(a, bus: nodeA, presence: nodeA)
            let hubB = try await Self.hub(b, bus: nodeB, presence: nodeB)
            for name in ["alice", "bob_b"] {
                _ = try await hubA.register(appKey: TestApps.a.appKey, NewUser(username: name, password: "pass-\(name)"), kind: .user)
            }
            let alice = try await hubA.login(appKey: TestApps.a.appKey, username: "alice", password: "pass-alice")
            let bob = try await hubB.login(appKey: TestApps.a.appKey, username: "bob_b", password: "pass-bob_b")
            var reader = InboxReader(hub: hubB, userID: bob.id, after: 0, live: nodeB.subscribe(userID: bob.id))
            var sent: [Int64] = []
            sent.append(try await hubA.send(.init(targetID: "bob_b", body: .text("m0")), from: alice, platform: "web").msgID)
            // The first arrives by notification or by the read made once the listener is up; after it, the listener is up.
            let first = try #require(try await reader.next())
            #expect(first.seq == 1 && first.stored?.msgID == sent[0])
            for i in 1...20 {
                sent.append(try await hubA.send(.init(targetID: "bob_b", body: .text("m\(i)")), from: alice,
                                                platform: "web").msgID)
            }
            var got = [first.stored?.msgID]
            for seq in 2...21 {
                let entry = try #require(try await reader.next())
                #expect(entry.seq == Int64(seq))
                got.append(entry.stored?.msgID)
            }
            #expect(got == sent)
        }
    }

    @Test func aLostNotificationOnlyDelaysTheCatchUpReadDeliversIt() async throws {
        try await Self.withTwoPools { a, b in
            let nodeB = try await PostgresCluster.start(database: b, interval: .milliseconds(200))
            // Node A publishes nothing to other nodes: every notification is lost.
            let hubA = try await Self.hub(a, bus: InboxBus())
            let hubB = try await Self.hub(b, bus: nodeB, presence: nodeB)
            for name in ["alice", "bob_b"] {
                _ = try await hubA.register(appKey: TestApps.a.appKey, NewUser(username: name, password: "pass-\(name)"), kind: .user)
            }
            let alice = try await hubA.login(appKey: TestApps.a.appKey, username: "alice", password: "pass-alice")
            let bob = try await hubB.login(appKey: TestApps.a.appKey, username: "bob_b", password: "pass-bob_b")
            var reader = InboxReader(hub: hubB, userID: bob.id, after: 0, live: nodeB.subscribe(userID: bob.id))
            var sent: [Int64] = []
            for i in 1...3 {
                sent.append(try await hubA.send(.init(targetID: "bob_b", body: .text("m\(i)")), from: alice,
                                                platform: "web").msgID)
            }
            var got: [Int64?] = []
            for seq in 1...3 {
                let entry = try #require(try await reader.next())
                #expect(entry.seq == Int64(seq))
                got.append(entry.stored?.msgID)
            }
            #expect(got == sent)
        }
    }

    @Test func sessionsOnOneNodeAreSeenOnTheOtherAndGoWhenClosed() async throws {
        try await Self.withTwoPools { a, b in
            let nodeA = try await PostgresCluster.start(database: a, interval: .milliseconds(200))
            let nodeB = try await PostgresCluster.start(database: b, interval: .milliseconds(200))
            let token = nodeA.open(userID: 42, device: "phone", platform: "a")
            #expect(await Self.eventually { nodeB.sessions(userID: 42) == [Presence.Session(device: "phone", platform: "a")] })
            #expect(nodeB.subscriberCount(userID: 42) == 1)
            #expect(nodeB.sessionCount == 1 && nodeA.sessionCount == 1)
            nodeA.close(token)
            #expect(await Self.eventually { nodeB.sessions(userID: 42).isEmpty })
            // A node that stops takes its sessions with it.
            _ = nodeA.open(userID: 7, device: "desk", platform: "web")
            #expect(await Self.eventually { nodeB.sessions(userID: 7).count == 1 })
            await nodeA.stop()
            #expect(await Self.eventually { nodeB.sessions(userID: 7).isEmpty })
        }
    }

    @Test func aSessionOnTheNodeThatStoredTheEntryGetsItWithoutTheDatabase() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let database = try await PostgresStorage.open(settings)
            let node = try await PostgresCluster.start(database: database, interval: .seconds(3600))
            var live = node.subscribe(userID: 5).makeAsyncIterator()
            #expect(node.subscriberCount(userID: 5) == 1)
            // With the pool closed, a local publish still reaches the local session at once.
            await database.close()
            let event = ChatEvent(kind: .groupCreated, appKey: TestApps.a.appKey, gid: 9, usernames: ["alice"], ctime: 1)
            node.publish(userID: 5, entry: InboxEntry(seq: 1, event: event))
            let got = try #require(await live.next())
            #expect(got.seq == 1 && got.event == event)
        }
    }

    @Test func notificationsAreSplitUnderEightThousandBytes() {
        let entries = (0..<3000).map { (userID: Int64(1_000_000_000 + $0), seq: Int64(500_000 + $0)) }
        let payloads = PostgresCluster.inboxPayloads(node: "abcdef-123456", entries)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count < 8000 })
        let tokens = payloads.flatMap { $0.split(separator: " ").dropFirst(2).map(String.init) }
        #expect(tokens == entries.map { "\($0.userID):\($0.seq)" })

        let opens = (0..<500).map { PresenceNote.Open(i: $0, u: Int64($0), d: "device-\($0)-" + String(repeating: "x", count: 40), p: "web") }
        let notes = PresenceNote.payloads(node: "n1", opens: opens, closes: Array(0..<300), reset: true)
        #expect(notes.allSatisfy { $0.utf8.count < 8000 })
        let decoded = notes.compactMap { PresenceNote(payload: $0) }
        #expect(decoded.count == notes.count)
        #expect(decoded.first?.r == true && decoded.dropFirst().allSatisfy { $0.r == nil })
        #expect(decoded.flatMap { $0.o ?? [] }.map(\.i) == Array(0..<500))
        #expect(decoded.flatMap { $0.c ?? [] } == Array(0..<300))
    }
}
