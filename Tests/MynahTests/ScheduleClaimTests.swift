import BotKit
import Foundation
import Hub
import HubPostgres
import IMProtocol
import MynahTesting
import Testing
@testable import Mynah

/// Reminders and cron ticks fire once across nodes, on SQLite (one node, a restart) and on PostgreSQL (several
/// nodes): due entries and ticks are claimed in the plugin storage, a reminder's message carries an idempotent
/// request id, and the node that takes a bot over catches up the tick due while nobody ran it.
@Suite struct ScheduleClaimTests {
    static let backends = ["sqlite", "postgres"]

    /// Runs `body` with two plugin storages on the same data, as two nodes (two processes) see it.
    static func withTwoNodes(_ backend: String, _ body: (any PluginStorage, any PluginStorage) async throws -> Void)
        async throws {
        if backend == "sqlite" {
            let dir = try TemporaryDirectory()
            let a = try SQLitePluginStorage(path: dir.path + "/bots.sqlite")
            let b = try SQLitePluginStorage(path: dir.path + "/bots.sqlite")
            try await body(a, b)
            return
        }
        try await TestPostgres.withFreshDatabase { settings, _ in
            let first = try await PostgresStorage.open(settings)
            let second: PostgresStorage
            do {
                second = try await PostgresStorage.open(settings)
            } catch {
                await first.close()
                throw error
            }
            do {
                try await body(PostgresPluginStorage(database: first, owner: "node-a"),
                               PostgresPluginStorage(database: second, owner: "node-b"))
            } catch {
                await first.close()
                await second.close()
                throw error
            }
            await first.close()
            await second.close()
        }
    }

    /// Runs `body` once per node start with the configuration change that puts the nodes on the backend's storage:
    /// for SQLite one data directory (the same node restarted), for PostgreSQL one fresh database.
    static func onBackend(_ backend: String,
                          _ body: (_ configure: @escaping @Sendable (inout MynahConfiguration) -> Void,
                                   _ dataDirectory: TemporaryDirectory?) async throws -> Void) async throws {
        if backend == "sqlite" {
            try await body({ _ in }, try TemporaryDirectory())
        } else {
            try await TestPostgres.withFreshDatabase { settings, _ in
                try await body({ $0.storage = StorageSection(postgres: settings) }, nil)
            }
        }
    }

    /// Runs `body` with a plugin storage of a node that is not running, on the data of the next start of
    /// ``onBackend(_:_:)`` (its data directory's file, or the database of `configure`).
    static func withDeadNode(_ backend: String, configure: (inout MynahConfiguration) -> Void,
                             dataDirectory: TemporaryDirectory?, _ body: (any PluginStorage) async throws -> Void)
        async throws {
        if let dataDirectory {
            try await body(try SQLitePluginStorage(path: dataDirectory.path + "/bots.sqlite"))
            return
        }
        var configuration = MynahConfiguration(listen: .init(host: "127.0.0.1", port: 0), dataDirectory: "/")
        configure(&configuration)
        let database = try await PostgresStorage.open(try #require(configuration.storage.postgres))
        do {
            try await body(PostgresPluginStorage(database: database, owner: "dead-node"))
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    /// A second node's view of the daemon's plugin data (another claim owner on the same file or database).
    static func otherNode(of daemon: Daemon) throws -> any PluginStorage {
        if let postgres = daemon.pluginStorage as? PostgresPluginStorage {
            return PostgresPluginStorage(database: postgres.database, owner: "dead-node")
        }
        let sqlite = try #require(daemon.pluginStorage as? SQLitePluginStorage)
        return try SQLitePluginStorage(path: sqlite.path)
    }

    static func reminderKey(due: Int64, _ suffix: String) -> String {
        "r/" + String(repeating: "0", count: 15 - String(due).count) + "\(due)/\(suffix)"
    }

    @Test(arguments: backends)
    func twoNodesRacingForTheSameDueEntriesClaimEachOnce(backend: String) async throws {
        try await Self.withTwoNodes(backend) { a, b in
            for round in 0..<10 {
                let plugin = "reminder\(round)"
                let due = (0..<20).map { Self.reminderKey(due: 1_000, "\($0)") }.sorted()
                for key in due { try await a.setValue(["n": 1], bot: "helper", plugin: plugin, key: key) }
                let later = Self.reminderKey(due: 5_000, "later")
                try await a.setValue(["n": 2], bot: "helper", plugin: plugin, key: later)
                let bound = Self.reminderKey(due: 1_001, "")
                // Both nodes find the same entries due at the same moment.
                async let fromA = a.claim(bot: "helper", plugin: plugin, prefix: "r/", before: bound, now: 1_500,
                                          until: 61_500)
                async let fromB = b.claim(bot: "helper", plugin: plugin, prefix: "r/", before: bound, now: 1_500,
                                          until: 61_500)
                let (x, y) = try await (fromA.map(\.key), fromB.map(\.key))
                #expect(x.count + y.count == due.count, "round \(round): a \(x), b \(y)")
                #expect(Set(x + y) == Set(due) && Set(x).isDisjoint(with: y), "round \(round): a \(x), b \(y)")
                // Five are done with and deleted. While the claims hold, each node gets only its own back.
                let deleted = Set((x + y).prefix(5))
                for key in deleted { try await a.setValue(.null, bot: "helper", plugin: plugin, key: key) }
                let mine = try await a.claim(bot: "helper", plugin: plugin, prefix: "r/", before: bound, now: 2_000,
                                             until: 62_000).map(\.key)
                #expect(Set(mine) == Set(x).subtracting(deleted))
                // Once they lapse (node a died), node b gets every one left.
                let left = try await b.claim(bot: "helper", plugin: plugin, prefix: "r/", before: bound, now: 62_001,
                                             until: 122_001).map(\.key)
                #expect(left == due.filter { !deleted.contains($0) }, "in key order")
                #expect(try await a.value(bot: "helper", plugin: plugin, key: later) == ["n": 2])
            }
        }
    }

    @Test(arguments: backends)
    func twoNodesRacingForTheSameTickClaimItOnceAndAnUnhandledTickIsTakenOver(backend: String) async throws {
        try await Self.withTwoNodes(backend) { a, b in
            var winners: [Bool] = []
            for minute in Int64(1)...20 {
                let due = minute * 60_000
                async let fromA = a.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due,
                                              until: due + 60_000, takeOver: false)
                async let fromB = b.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due,
                                              until: due + 60_000, takeOver: false)
                let (x, y) = try await (fromA, fromB)
                #expect(x != y, "minute \(minute): both or neither claimed it")
                winners.append(x)
                // The winner handles it; nobody fires it again, not even when taking over.
                try await (x ? a : b).finishTick(bot: "s", plugin: "p", schedule: "due", due: due)
                #expect(try await !b.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due + 90_000,
                                               until: due + 150_000, takeOver: true))
            }
            let due: Int64 = 30 * 60_000
            #expect(try await a.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due,
                                          until: due + 60_000, takeOver: false))
            #expect(try await b.lastTick(bot: "s", plugin: "p", schedule: "due") == TickClaim(due: due, done: false))
            // Node a dies before handling it: b may not take it while a's claim holds, unless it took the bot over.
            #expect(try await !b.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due + 1_000,
                                           until: due + 61_000, takeOver: false))
            #expect(try await b.claimTick(bot: "s", plugin: "p", schedule: "due", due: due, now: due + 1_000,
                                          until: due + 61_000, takeOver: true))
            try await b.finishTick(bot: "s", plugin: "p", schedule: "due", due: due)
            #expect(try await a.lastTick(bot: "s", plugin: "p", schedule: "due") == TickClaim(due: due, done: true))
            // An earlier tick never wins, unless the stored one is far ahead of the claimer's clock (it stepped back).
            #expect(try await !a.claimTick(bot: "s", plugin: "p", schedule: "due", due: due - 60_000, now: due,
                                           until: due + 60_000, takeOver: false))
            let back = due - TickClaim.staleAfter - 120_000
            #expect(try await a.claimTick(bot: "s", plugin: "p", schedule: "due", due: back, now: back,
                                          until: back + 60_000, takeOver: false))
        }
    }

    static let reminderBot = TestBot("helper", username: "helper_bot", plugins: [.builtIn("reminder")])

    @Test(arguments: backends)
    func aReminderSentByANodeThatDiedBeforeDeletingItIsNotSentAgain(backend: String) async throws {
        try await Self.onBackend(backend) { configure, _ in
            try await TestHub.run(bots: [Self.reminderBot], configure: configure) { hub in
                let alice = try await hub.user("alice")
                #expect(try await alice.ask("/remind 2m tea", to: "helper_bot").hasPrefix("ok, I will remind you"))
                let store = hub.store(bot: "helper", plugin: "reminder")
                let key = try #require(try await store.entries(prefix: "r/").first?.key)
                // Another node, running the bot a moment earlier, claims the reminder as it falls due and sends it
                // (with the request id every node gives it) ...
                let due = hub.now + 120_000
                let dead = try Self.otherNode(of: hub.daemon)
                let claimed = try await dead.claim(bot: "helper", plugin: "reminder", prefix: "r/", before: "r/9",
                                                   now: due, until: due + 60_000)
                #expect(claimed.map(\.key) == [key])
                let robot = try await hub.hub.user(appKey: TestHub.appKey, username: "helper_bot")
                _ = try await hub.hub.send(.init(requestID: "bot:helper:reminder:id:\(key)", targetID: "alice",
                                                 body: .text("⏰ tea")), from: robot, platform: "api")
                #expect(try await alice.next() == "⏰ tea")
                // ... and dies before deleting it. At the due minute this node finds it claimed and leaves it.
                try await hub.advance(by: .seconds(120))
                #expect(try await store.entries(prefix: "r/").map(\.key) == [key])
                // Once the dead node's claim lapsed this node claims it and sends it again: the hub stores it once.
                try await hub.advance(by: .seconds(120))
                #expect(try await store.entries(prefix: "r/").isEmpty)
                // A second copy would have come before this answer.
                #expect(try await alice.ask("/reminders", to: "helper_bot") == "no pending reminders")
            }
        }
    }

    @Test(arguments: backends)
    func aCronTickDueWhileNoNodeRanTheBotFiresOnceWhenTheBotIsTakenOver(backend: String) async throws {
        let standup = TestBot("standup", plugins: [.builtIn("reminder", config: ["recurring": [
            ["cron": "*/10 * * * *", "to": ["type": "single", "id": "alice"], "text": "stand-up"],
        ]])])
        try await Self.onBackend(backend) { configure, shared in
            // Node A runs the bot and fires 09:10, then dies.
            let first = try await TestHub.run(bots: [standup], dataDirectory: shared, configure: configure) { hub in
                let alice = try await hub.user("alice")
                try await hub.advance(by: .seconds(600))
                let delivery = try await alice.nextDelivery()
                #expect(delivery.stored.message.body.text == "stand-up")
                try await hub.settle()
                return delivery.stored.msgID
            }
            // 09:20 falls due while no node runs the bot; node B takes it at 09:21 and fires 09:20 once, then 09:30.
            try await TestHub.run(bots: [standup], now: TestHub.defaultStart + 21 * 60_000, dataDirectory: shared,
                                  configure: configure) { hub in
                let alice = try await hub.login("alice")
                var texts: [String] = []
                func collect(until sentinel: String) async throws {
                    while true {
                        let d = try await alice.nextDelivery()
                        guard d.stored.msgID != first else { continue }     // node A's, not acknowledged in time
                        let text = d.stored.message.body.text ?? ""
                        if text == sentinel { return }
                        texts.append(text)
                    }
                }
                try await hub.settle()
                try await alice.send("/reminders", to: "standup_bot")
                try await collect(until: "no pending reminders")
                #expect(texts == ["stand-up"], "the caught-up 09:20 tick, once")
                texts = []
                try await hub.advance(by: .seconds(9 * 60))
                try await hub.settle()
                try await alice.send("/reminders", to: "standup_bot")
                try await collect(until: "no pending reminders")
                #expect(texts == ["stand-up"], "09:30, once")
            }
        }
    }

    @Test(arguments: backends)
    func aTickWhoseNodeDiedBeforeHandlingItFiresOnceOnTheNodeThatTakesTheBot(backend: String) async throws {
        let standup = TestBot("standup", plugins: [.builtIn("reminder", config: ["recurring": [
            ["cron": "*/10 * * * *", "to": ["type": "single", "id": "alice"], "text": "stand-up"],
        ]])])
        let due = TestHub.defaultStart + 10 * 60_000
        try await Self.onBackend(backend) { configure, shared in
            try await TestHub.run(bots: [], dataDirectory: shared, configure: configure) { hub in
                try await hub.register("alice")
            }
            // A node claimed the 09:10 tick and died before its plugin handled it.
            try await Self.withDeadNode(backend, configure: configure, dataDirectory: shared) { (dead: any PluginStorage) async throws in
                #expect(try await dead.claimTick(bot: "standup", plugin: "reminder", schedule: "recurring-0", due: due,
                                                 now: due, until: due + 60_000, takeOver: false))
            }
            // The node that takes the bot over at 09:10:30, before the claim lapsed, fires it, once.
            try await TestHub.run(bots: [standup], now: due + 30_000, dataDirectory: shared,
                                  configure: configure) { hub in
                let alice = try await hub.login("alice")
                try await hub.settle()
                #expect(try await alice.next() == "stand-up")
                #expect(try await alice.ask("/reminders", to: "standup_bot") == "no pending reminders")
                let store = try Self.otherNode(of: hub.daemon)
                #expect(try await store.lastTick(bot: "standup", plugin: "reminder", schedule: "recurring-0")
                    == TickClaim(due: due, done: true))
            }
        }
    }
}
