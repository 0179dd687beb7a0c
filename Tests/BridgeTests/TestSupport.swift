import Bridge
import Foundation
import Hub
import IMProtocol
import Logging
import Synchronization

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let millis: Atomic<Int64>

    init(_ start: Int64 = 1_800_000_000_000) {
        millis = Atomic(start)
    }

    var now: @Sendable () -> Int64 { { [self] in millis.load(ordering: .relaxed) } }

    func advance(seconds: Int64) {
        millis.add(seconds * 1000, ordering: .relaxed)
    }
}

/// A temporary directory removed when the value goes away.
final class TempDir: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-bridge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A hub with two apps ("shop" pushes, "chat" holds the accounts) and a bridge over real SQLite files.
struct Fixture {
    static let shop = AppSettings(appKey: "shopappkey", masterSecret: "shop-secret")
    static let chat = AppSettings(appKey: "chatappkey", masterSecret: "chat-secret")

    let dir: TempDir
    let clock: TestClock
    let hub: Hub
    let bridge: Bridge

    /// Opens (or reopens, with `dir` and `clock` of an earlier fixture) the hub and the bridge.
    static func open(rules: [BridgeRule], dir: TempDir? = nil, clock: TestClock = TestClock()) async throws -> Fixture {
        let dir = try dir ?? TempDir()
        let hub = try await Hub(configuration: .init(apps: [shop, chat], passwordCost: 4, clock: clock.now),
                                store: SQLiteHubStore(path: dir.path + "/hub.sqlite"))
        var logger = Logger(label: "mynah.test.bridge")
        logger.logLevel = .warning
        let bridge = try await Bridge(configuration: .init(rules: rules), hub: hub,
                                      store: SQLiteBridgeStore(path: dir.path + "/bridge.sqlite"), logger: logger)
        return Fixture(dir: dir, clock: clock, hub: hub, bridge: bridge)
    }

    /// Registers users in the accounts app.
    @discardableResult
    func register(_ names: String..., appKey: String = Fixture.chat.appKey) async throws -> [User] {
        var users: [User] = []
        for name in names {
            users.append(try await hub.register(appKey: appKey, NewUser(username: name, password: "password"), kind: .user))
        }
        return users
    }

    /// The whole inbox of an account.
    func inbox(_ username: String, appKey: String = Fixture.chat.appKey) async throws -> [InboxEntry] {
        let user = try await hub.user(appKey: appKey, username: username)
        return try await hub.inbox(userID: user.id, after: 0)
    }

    /// Records that every device of `username` has read up to the end of its inbox.
    func acknowledgeAll(_ username: String, device: String = "phone") async throws {
        let user = try await hub.user(appKey: Fixture.chat.appKey, username: username)
        let entries = try await hub.inbox(userID: user.id, after: 0)
        try await hub.acknowledge(userID: user.id, device: device, seq: entries.last?.seq ?? 0)
    }
}

extension PushRequest {
    /// A notification push to some aliases.
    static func alert(_ text: String, aliases: [String], cid: String? = nil, ttl: Int64 = 86400) -> PushRequest {
        PushRequest(audience: .filter(.init(alias: aliases)), content: PushContent(alert: text), cid: cid, timeToLive: ttl)
    }
}
