import Foundation
import GRDB
import Hub
import IMProtocol
import Testing

/// The store contract: every test that does not read SQLite's file directly runs on both backends.
@Suite("HubStore contract")
struct HubStoreContractTests {
    /// Runs `body` with a store on a fresh file (or a fresh PostgreSQL database) whose apps are synced.
    func withStore<T>(_ backend: Backend = .sqlite, _ body: (any HubStore, Sandbox) async throws -> T) async throws -> T {
        try await Sandbox.with(backend) { sandbox in
            let store = try sandbox.openStore()
            try await store.syncApps(TestApps.all)
            return try await body(store, sandbox)
        }
    }

    func insert(_ store: any HubStore, _ username: String, appKey: String = TestApps.a.appKey,
                kind: FromType = .user, now: Int64 = 1_000) async throws -> User {
        try #require(try await store.insertUser(appKey: appKey, username: username, kind: kind, passwordHash: "$2b$hash",
                                                profile: Profile(), now: now))
    }

    func pending(_ text: String, from sender: User, to recipients: [User], now: Int64,
                 requestID: String? = nil) -> PendingMessage {
        let message = Message(targetType: .single, targetID: recipients.first?.username ?? "nobody",
                              fromType: sender.kind, fromID: sender.username, fromAppKey: sender.appKey,
                              fromPlatform: "web", createTime: now / 1000, body: .text(text))
        return PendingMessage(message: message, senderUserID: sender.id, requestID: requestID,
                              recipients: recipients.map(\.id), now: now)
    }

    // MARK: Logins

    @Test("sendContext: the sender's flags and the recipient's relation to it, each rule on its own", arguments: Backend.allCases)
    func sendContext(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            let app = TestApps.a.appKey
            var context = try await store.sendContext(senderID: alice.id, recipient: (app, "bobby"))
            #expect(!context.senderForbidden && context.senderDevices == 0)
            var single = try #require(context.single)
            #expect(single.recipient.id == bob.id && single.recipient.username == "bobby")
            #expect(!single.blacklisted && !single.friends && !single.quiet)

            try await store.recordLogin(userID: alice.id, device: "phone", platform: "a", now: 2_000)
            try await store.recordLogin(userID: alice.id, device: "web", platform: "web", now: 2_000)
            try await store.setForbidden(userID: alice.id, true, now: 2_000)
            try await store.addToBlacklist(userID: bob.id, [alice.id])
            try await store.addFriends(userID: bob.id, [alice.id], now: 2_000)
            try await store.changeNoDisturb(userID: bob.id, addSingles: [alice.id], removeSingles: [], addGroups: [],
                                            removeGroups: [], global: nil)
            context = try await store.sendContext(senderID: alice.id, recipient: (app, "bobby"))
            #expect(context.senderForbidden && context.senderDevices == 2)
            single = try #require(context.single)
            #expect(single.blacklisted && single.friends && single.quiet)
            // The blacklist and no-disturb are the recipient's: the other way round they do not hold; friendship is
            // mutual.
            let back = try #require(try await store.sendContext(senderID: bob.id, recipient: (app, "alice")).single)
            #expect(!back.blacklisted && back.friends && !back.quiet)
            // Global no-disturb makes every sender quiet.
            let carol = try await insert(store, "carol")
            try await store.changeNoDisturb(userID: carol.id, addSingles: [], removeSingles: [], addGroups: [],
                                            removeGroups: [], global: true)
            #expect(try await store.sendContext(senderID: bob.id, recipient: (app, "carol")).single?.quiet == true)
            // No such recipient (or app): no single part; no recipient asked: only the sender.
            context = try await store.sendContext(senderID: alice.id, recipient: (app, "nobody"))
            #expect(context.single == nil && context.senderForbidden && context.senderDevices == 2)
            #expect(try await store.sendContext(senderID: alice.id, recipient: ("other-app", "bobby")).single == nil)
            context = try await store.sendContext(senderID: alice.id, recipient: nil)
            #expect(context.single == nil && context.senderForbidden && context.senderDevices == 2)
            // An unknown sender: neither forbidden nor logged in.
            context = try await store.sendContext(senderID: 999_999, recipient: (app, "bobby"))
            #expect(!context.senderForbidden && context.senderDevices == 0 && context.single?.recipient.id == bob.id)
        }
    }

    @Test("credentials: the account, its hash and its forbidden flag; nil for an unknown account",
          arguments: Backend.allCases)
    func credentials(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let found = try #require(try await store.credentials(appKey: TestApps.a.appKey, username: "alice"))
            #expect(found.user == alice)
            #expect(found.passwordHash == "$2b$hash")
            #expect(!found.forbidden)
            try await store.setForbidden(userID: alice.id, true, now: 2_000)
            #expect(try await store.credentials(appKey: TestApps.a.appKey, username: "alice")?.forbidden == true)
            #expect(try await store.credentials(appKey: TestApps.a.appKey, username: "nobody") == nil)
            #expect(try await store.credentials(appKey: TestApps.b.appKey, username: "alice") == nil)
        }
    }

    // MARK: Schema and apps

    @Test("a new file is created in WAL mode and reopening it migrates nothing twice")
    func createAndReopen() async throws {
        try await Sandbox.with { sandbox in
            do {
                let store = try sandbox.openStore()
                try await store.syncApps(TestApps.all)
                _ = try await insert(store, "alice")
            }
            #expect(FileManager.default.fileExists(atPath: sandbox.databasePath))
            let store = try sandbox.openStore()
            #expect(try await store.user(appKey: TestApps.a.appKey, username: "alice") != nil)
            let (mode, migrations) = try sandbox.readDatabase { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                 try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
            }
            #expect(mode == "wal")
            #expect(migrations == ["v1", "v2: inbox expiry", "v3: devices", "v4: groups, relations, chatrooms, moderation, events",
                                  "console: runtime apps", "routing: event log", "v5: history keys behind the writer",
                                  "v6: inbox entries behind the writer"])
        }
    }

    @Test("syncApps records the apps, is repeatable and updates names")
    func syncApps() async throws {
        try await withStore { store, sandbox in
            try await store.syncApps(TestApps.all)
            var renamed = TestApps.a
            renamed.name = "Renamed"
            try await store.syncApps([renamed])
            let rows = try sandbox.readDatabase { db in
                try Row.fetchAll(db, sql: "SELECT appkey, name FROM app ORDER BY appkey")
                    .map { ($0["appkey"] as String, $0["name"] as String?) }
            }
            #expect(rows.count == 2)
            #expect(rows.first { $0.0 == TestApps.a.appKey }?.1 == "Renamed")
            #expect(rows.first { $0.0 == TestApps.b.appKey }?.1 == "App B")
        }
    }

    // MARK: Users

    @Test("insertUser returns the account, nil when the username is taken in the app", arguments: Backend.allCases)
    func insertUser(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let profile = Profile(nickname: "N", avatar: "qiniu/a", birthday: "1990-01-02", gender: 1, signature: "S",
                                  region: "R", address: "A", extras: ["k": .array([.int(1), .bool(true)])])
            let alice = try #require(try await store.insertUser(appKey: TestApps.a.appKey, username: "alice", kind: .admin,
                                                                passwordHash: "$2b$h", profile: profile, now: 1234))
            #expect(alice.kind == .admin)
            #expect(alice.ctime == 1234 && alice.mtime == 1234)
            #expect(try await store.user(appKey: TestApps.a.appKey, username: "alice") == alice)

            let again = try await store.insertUser(appKey: TestApps.a.appKey, username: "alice", kind: .user,
                                                   passwordHash: "$2b$other", profile: Profile(), now: 5678)
            #expect(again == nil)
            #expect(try await store.passwordHash(userID: alice.id) == "$2b$h")

            let inB = try await store.insertUser(appKey: TestApps.b.appKey, username: "alice", kind: .user,
                                                 passwordHash: "$2b$b", profile: Profile(), now: 1)
            #expect(inB != nil && inB?.id != alice.id)
            #expect(try await store.user(appKey: TestApps.a.appKey, username: "bobby") == nil)
            #expect(try await store.user(appKey: "no-such-app", username: "alice") == nil)
        }
    }

    @Test("an account cannot refer to an app that was never synced", arguments: Backend.allCases)
    func userNeedsApp(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            _ = await #expect(throws: (any Error).self) {
                try await store.insertUser(appKey: "no-such-app", username: "alice", kind: .user, passwordHash: "$2b$h",
                                           profile: Profile(), now: 1)
            }
        }
    }

    @Test("setPasswordHash replaces the hash and touches mtime only", arguments: Backend.allCases)
    func setPasswordHash(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice", now: 1000)
            try await store.setPasswordHash(userID: alice.id, hash: "$2b$new", now: 2000)
            #expect(try await store.passwordHash(userID: alice.id) == "$2b$new")
            let reread = try #require(try await store.user(appKey: TestApps.a.appKey, username: "alice"))
            #expect(reread.ctime == 1000)
            #expect(reread.mtime == 2000)
            #expect(try await store.passwordHash(userID: 9999) == nil)
        }
    }

    // MARK: Messages and inboxes

    @Test("append assigns increasing ids and never-decreasing times, even when the clock goes back", arguments: Backend.allCases)
    func appendOrdersIDsAndTimes(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            let r1 = try await store.append(pending("1", from: alice, to: [bob], now: 5_000))
            let r2 = try await store.append(pending("2", from: alice, to: [bob], now: 3_000))  // clock stepped back
            let r3 = try await store.append(pending("3", from: alice, to: [bob], now: 7_000))
            #expect(r1.stored.msgCtime == 5_000)
            #expect(r2.stored.msgCtime == 5_000)
            #expect(r3.stored.msgCtime == 7_000)
            #expect(r1.stored.msgID < r2.stored.msgID && r2.stored.msgID < r3.stored.msgID)
            #expect([r1, r2, r3].allSatisfy { !$0.duplicate })
            #expect(r1.entries.map(\.seq) == [1] && r2.entries.map(\.seq) == [2] && r3.entries.map(\.seq) == [3])
            #expect(r1.entries.map(\.userID) == [bob.id])
        }
    }

    @Test("append gives each recipient its own next seq", arguments: Backend.allCases)
    func appendToSeveralRecipients(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            let carol = try await insert(store, "carol")
            _ = try await store.append(pending("only bob", from: alice, to: [bob], now: 1))
            let both = try await store.append(pending("both", from: alice, to: [bob, carol], now: 2))
            #expect(both.entries.map(\.userID) == [bob.id, carol.id])
            #expect(both.entries.map(\.seq) == [2, 1])
            #expect(try await store.inbox(userID: bob.id, after: 0, limit: 10, now: Hub.nowMillis()).map(\.seq) == [1, 2])
            #expect(try await store.inbox(userID: carol.id, after: 0, limit: 10, now: Hub.nowMillis()).map(\.stored) == [both.stored])
        }
    }

    @Test("a repeated request id of the same sender returns the first message as a duplicate", arguments: Backend.allCases)
    func appendDuplicate(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            let first = try await store.append(pending("first", from: alice, to: [bob], now: 10, requestID: "r"))
            let again = try await store.append(pending("second", from: alice, to: [bob], now: 20, requestID: "r"))
            #expect(again.duplicate)
            #expect(again.entries.isEmpty)
            #expect(again.stored == first.stored)
            #expect(try await store.inbox(userID: bob.id, after: 0, limit: 10, now: Hub.nowMillis()).count == 1)
            let count = try await store.history(HistoryQuery(appKey: TestApps.a.appKey, beginTime: 0, endTime: .max,
                                                             count: 10)).total
            #expect(count == 1)
        }
    }

    @Test("a message without target_appkey is stored under the sender's app")
    func targetAppKeyColumn() async throws {
        try await withStore { store, sandbox in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            _ = try await store.append(pending("x", from: alice, to: [bob], now: 1))
            let row = try sandbox.readDatabase { db in
                try Row.fetchOne(db, sql: "SELECT from_appkey, target_appkey, target_id, target_type FROM message")
                    .map { [$0["from_appkey"], $0["target_appkey"], $0["target_id"], $0["target_type"]] as [String] }
            }
            #expect(row == [TestApps.a.appKey, TestApps.a.appKey, "bobby", "single"])
        }
    }

    @Test("cursors: 0 by default, forward only, per device", arguments: Backend.allCases)
    func cursors(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            #expect(try await store.cursor(userID: 1, device: "d") == 0)
            try await store.advanceCursor(userID: 1, device: "d", to: 4)
            try await store.advanceCursor(userID: 1, device: "d", to: 2)
            try await store.advanceCursor(userID: 1, device: "e", to: 1)
            #expect(try await store.cursor(userID: 1, device: "d") == 4)
            #expect(try await store.cursor(userID: 1, device: "e") == 1)
            #expect(try await store.cursor(userID: 2, device: "d") == 0)
        }
    }

    // MARK: History

    @Test("history filters by msg_ctime, inclusive at both ends, and counts the range", arguments: Backend.allCases)
    func historyTimeRange(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await insert(store, "alice")
            let bob = try await insert(store, "bobby")
            var stored: [StoredMessage] = []
            for t: Int64 in [1_000, 2_000, 3_000, 4_000, 5_000] {
                stored.append(try await store.append(pending("t\(t)", from: alice, to: [bob], now: t)).stored)
            }
            func page(_ begin: Int64, _ end: Int64, count: Int = 10, after: Int64 = 0) async throws -> HistoryPage {
                try await store.history(HistoryQuery(appKey: TestApps.a.appKey, username: "bobby", beginTime: begin,
                                                     endTime: end, count: count, afterMsgID: after))
            }
            #expect(try await page(2_000, 4_000).messages == Array(stored[1...3]))
            #expect(try await page(2_001, 3_999).messages == [stored[2]])
            #expect(try await page(0, 999).total == 0)
            #expect(try await page(5_001, .max).total == 0)
            #expect(try await page(4_000, 2_000).total == 0)

            let first = try await page(2_000, 5_000, count: 2)
            #expect(first.total == 4)
            #expect(first.messages == [stored[1], stored[2]])
            let second = try await page(2_000, 5_000, count: 2, after: stored[2].msgID)
            #expect(second.total == 4)
            #expect(second.messages == [stored[3], stored[4]])
        }
    }
}

@Suite("HubStore contract: group commit")
struct HubStoreGroupCommitContractTests {
    @Test("concurrent appends share transactions yet each gets its own id and a gap-free seq", arguments: Backend.allCases)
    func concurrentAppends(_ backend: Backend) async throws {
        let t = HubStoreContractTests()
        try await t.withStore(backend) { store, _ in
            let bob = try await t.insert(store, "bobby")
            var senders: [User] = []
            for i in 0..<10 { senders.append(try await t.insert(store, "sender\(i)")) }
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<200 {
                    let sender = senders[i % senders.count]
                    group.addTask { try await store.append(t.pending("m\(i)", from: sender, to: [bob], now: Int64(i))) }
                }
                return try await group.reduce(into: [AppendResult]()) { $0.append($1) }
            }
            #expect(Set(results.map(\.stored.msgID)).count == 200)
            #expect(results.flatMap(\.entries).map(\.seq).sorted() == Array(1...200))
            let inbox = try await store.inbox(userID: bob.id, after: 0, limit: 500, now: Hub.nowMillis())
            #expect(inbox.map(\.seq) == Array(1...200))
            // msg_id order is commit order, and msg_ctime never decreases along it.
            let stored = inbox.compactMap(\.stored).sorted { $0.msgID < $1.msgID }
            #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.msgCtime <= $1.msgCtime })
        }
    }

    /// PostgreSQL stores a batch in a few statements; a statement that fails (here PostgreSQL's refusal of a NUL in
    /// text, which SQLite stores) makes the batch go again one savepoint per append, so the failing append fails alone.
    @Test("on PostgreSQL an append that fails inside a batch fails alone; the others are stored, gap-free")
    func aFailingAppendFailsAlone() async throws {
        let t = HubStoreContractTests()
        try await t.withStore(.postgres) { store, _ in
            let bob = try await t.insert(store, "bobby")
            var senders: [User] = []
            for i in 0..<5 { senders.append(try await t.insert(store, "sender\(i)")) }
            let results = await withTaskGroup(of: (Int, Result<AppendResult, any Error>).self) { group in
                for i in 0..<60 {
                    let sender = senders[i % senders.count]
                    group.addTask {
                        var pending = t.pending("m\(i)", from: sender, to: [bob], now: Int64(i))
                        if i == 30 { pending.message.targetID = "bad\u{0}" }
                        do { return (i, .success(try await store.append(pending))) } catch { return (i, .failure(error)) }
                    }
                }
                return await group.reduce(into: [Int: Result<AppendResult, any Error>]()) { $0[$1.0] = $1.1 }
            }
            let stored = results.compactMapValues { try? $0.get() }
            #expect(stored.count == 59 && stored[30] == nil)
            #expect(stored.values.flatMap(\.entries).map(\.seq).sorted() == Array(1...59))
            let inbox = try await store.inbox(userID: bob.id, after: 0, limit: 500, now: Hub.nowMillis())
            #expect(inbox.map(\.seq) == Array(1...59))
            #expect(!inbox.contains { $0.stored?.message.body.text == "m30" })
        }
    }

    @Test("one request id submitted concurrently is stored once; the others get it as a duplicate", arguments: Backend.allCases)
    func concurrentDuplicates(_ backend: Backend) async throws {
        let t = HubStoreContractTests()
        try await t.withStore(backend) { store, _ in
            let alice = try await t.insert(store, "alice")
            let bob = try await t.insert(store, "bobby")
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await store.append(t.pending("try \(i)", from: alice, to: [bob], now: 5, requestID: "same"))
                    }
                }
                return try await group.reduce(into: [AppendResult]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.duplicate }.count == 1)
            #expect(Set(results.map(\.stored.msgID)).count == 1)
            #expect(try await store.inbox(userID: bob.id, after: 0, limit: 50, now: Hub.nowMillis()).count == 1)
        }
    }
}
