import Foundation
import GRDB
import Hub
import HubPostgres
import IMProtocol
import Testing

/// The two apps every test hub serves.
enum TestApps {
    static let a = AppSettings(appKey: "4f7aef34fb361292c566a1cd", masterSecret: "secret-of-app-a", name: "App A")
    static let b = AppSettings(appKey: "9c3e1b2a7d4f6e8a0b1c2d3e", masterSecret: "secret-of-app-b", name: "App B")
    static let all = [a, b]
}

/// A fresh temporary directory holding one SQLite file, removed when the test is done; on the PostgreSQL backend
/// also a fresh database, dropped when the test is done.
struct Sandbox {
    let directory: URL
    /// The pool on the test's own database, on the PostgreSQL backend.
    var postgres: PostgresStorage?

    /// The path of the hub's SQLite file inside the directory.
    var databasePath: String { directory.appendingPathComponent("hub.sqlite").path }

    /// Runs `body` with a new sandbox and removes its directory afterwards, whatever happens.
    static func with<T>(_ backend: Backend = .sqlite, _ body: (Sandbox) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mynah-hubtests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        switch backend {
        case .sqlite:
            return try await body(Sandbox(directory: directory))
        case .postgres:
            return try await TestPostgres.withDatabase { database in
                try await body(Sandbox(directory: directory, postgres: database))
            }
        }
    }

    /// Opens a store on the sandbox's file, or on its database on the PostgreSQL backend.
    func openStore() throws -> any HubStore {
        if let postgres { return PostgresHubStore(database: postgres) }
        return try SQLiteHubStore(path: databasePath)
    }

    /// Opens a hub (cheap bcrypt cost) on a new store over the sandbox's file.
    func openHub(apps: [AppSettings] = TestApps.all, bus: InboxBus = InboxBus()) async throws -> Hub {
        try await Hub(configuration: .init(apps: apps, passwordCost: 4), store: openStore(), bus: bus)
    }

    /// Reads the file with GRDB directly, bypassing the store.
    func readDatabase<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        let queue = try DatabaseQueue(path: databasePath)
        return try queue.read(body)
    }
}

/// Runs `body` with a hub on a fresh store (a SQLite file in its own temporary directory, or a new PostgreSQL
/// database).
func withHub<T>(_ backend: Backend = .sqlite, apps: [AppSettings] = TestApps.all, bus: InboxBus = InboxBus(),
                _ body: (Hub, Sandbox) async throws -> T) async throws -> T {
    try await Sandbox.with(backend) { sandbox in
        let hub = try await sandbox.openHub(apps: apps, bus: bus)
        return try await body(hub, sandbox)
    }
}

extension Hub {
    /// Registers one account in app A (or `appKey`) with the default test password.
    func make(_ username: String, kind: FromType = .user, appKey: String = TestApps.a.appKey,
              password: String = "password1", profile: Profile = Profile()) async throws -> User {
        try await register(appKey: appKey, NewUser(username: username, password: password, profile: profile), kind: kind)
    }

    /// Sends a single text message.
    func sendText(_ text: String, from sender: User, to target: String, platform: String = "web",
                  requestID: String? = nil, targetAppKey: String? = nil) async throws -> StoredMessage {
        try await send(.init(requestID: requestID, targetID: target, targetAppKey: targetAppKey, body: .text(text)),
                       from: sender, platform: platform)
    }
}

/// A history query over all time in app A.
func allTime(username: String? = nil, appKey: String = TestApps.a.appKey, count: Int = 100,
             afterMsgID: Int64 = 0) -> HistoryQuery {
    HistoryQuery(appKey: appKey, username: username, beginTime: 0, endTime: .max, count: count, afterMsgID: afterMsgID)
}

extension InboxEntry {
    /// The message of a message entry; for an event entry a sentinel (msg_id -1) that equals no real message, so a
    /// test expecting a message fails.
    var message: StoredMessage {
        stored ?? StoredMessage(msgID: -1, msgCtime: -1, message: Message(
            targetType: .single, targetID: "-", fromType: .user, fromID: "-", fromPlatform: nil, createTime: 0, body: .text("not a message")))
    }
}
