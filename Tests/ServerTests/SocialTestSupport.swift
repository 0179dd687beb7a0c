import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import IMProtocol
import Server
import Synchronization
import Testing

/// A clock that tests move by hand, for the hub's `Configuration.clock`.
final class ManualClock: Sendable {
    private let millis: Mutex<Int64>

    init(_ start: Int64 = Hub.nowMillis()) { millis = Mutex(start) }

    /// The current time in milliseconds.
    var now: Int64 { millis.withLock { $0 } }

    /// Moves the clock forward.
    func advance(millis delta: Int64) { millis.withLock { $0 += delta } }
}

/// Apps with social settings: the main app (configurable) and the other app.
enum SocialApps {
    static func main(friendMode: Bool = false, crossApp: Set<String> = [], maxGroupMembers: Int = 500) -> AppSettings {
        AppSettings(appKey: Apps.appKey, masterSecret: Apps.masterSecret, friendMode: friendMode, crossApp: crossApp,
                    maxGroupMembers: maxGroupMembers)
    }

    static func other(friendMode: Bool = false, crossApp: Set<String> = []) -> AppSettings {
        AppSettings(appKey: Apps.otherAppKey, masterSecret: Apps.otherSecret, friendMode: friendMode, crossApp: crossApp)
    }
}

/// Like `withServer`, with the apps and the clock given.
func withServer<T: Sendable>(apps: [AppSettings], clock: ManualClock? = nil,
                             _ test: @Sendable (TestServer) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-servertests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = try SQLiteHubStore(path: dir.path + "/hub.sqlite")
    let configuration: Hub.Configuration
    if let clock {
        configuration = .init(apps: apps, passwordCost: 4, clock: { clock.now })
    } else {
        configuration = .init(apps: apps, passwordCost: 4)
    }
    let hub = try await Hub(configuration: configuration, store: store)
    let app = HTTPServer.application(hub: hub, configuration: .init(port: 0))
    return try await app.test(.router) { client in
        try await test(TestServer(client: client, hub: hub))
    }
}

extension TestServer {
    func put(_ uri: String, _ body: String?, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.put, uri, as: credentials, body: body)
    }

    func put(_ uri: String, json: JSONValue, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.put, uri, as: credentials, body: json.serializedString())
    }

    func delete(_ uri: String, _ body: String? = nil, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.delete, uri, as: credentials, body: body)
    }

    func delete(_ uri: String, json: JSONValue, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.delete, uri, as: credentials, body: json.serializedString())
    }

    /// The account, or a failed test.
    func user(_ username: String, appKey: String = Apps.appKey) async throws -> User {
        try await hub.user(appKey: appKey, username: username)
    }

    /// Creates a group through POST /v1/groups/ and returns its gid.
    func createGroup(owner: String, members: [String], name: String = "team", as credentials: Credentials = .main,
                     sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let reply = try await post("/v1/groups/", json: [
            "owner_username": .string(owner), "name": .string(name), "members_username": .array(members.map { .string($0) }),
        ], as: credentials)
        try #require(reply.status == .created, "\(reply)", sourceLocation: sourceLocation)
        return try #require(try reply.json()["gid"]?.intValue, sourceLocation: sourceLocation)
    }

    /// Creates a chatroom through POST /v1/chatroom/ and returns its id.
    func createRoom(owner: String, members: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let reply = try await post("/v1/chatroom/", json: [
            "owner_username": .string(owner), "name": "lobby", "members_username": .array(members.map { .string($0) }),
        ])
        try #require(reply.status == .created, "\(reply)", sourceLocation: sourceLocation)
        return try #require(try reply.json()["chatroom_id"]?.intValue, sourceLocation: sourceLocation)
    }

    /// The messages (not events) in an account's inbox.
    func messages(of username: String, appKey: String = Apps.appKey) async throws -> [InboxEntry] {
        let u = try await user(username, appKey: appKey)
        return try await hub.inbox(userID: u.id, after: 0, limit: 10_000).filter { $0.stored != nil }
    }

    /// The events in an account's inbox.
    func events(of username: String, appKey: String = Apps.appKey) async throws -> [ChatEvent] {
        let u = try await user(username, appKey: appKey)
        return try await hub.inbox(userID: u.id, after: 0, limit: 10_000).compactMap(\.event)
    }

    /// A user of the hub sends a text (as a client of the gateway would).
    @discardableResult
    func userSends(_ text: String, from username: String, fromAppKey: String = Apps.appKey, to target: String,
                   type: TargetType = .single, targetAppKey: String? = nil) async throws -> StoredMessage {
        let sender = try await user(username, appKey: fromAppKey)
        return try await hub.send(.init(targetType: type, targetID: target, targetAppKey: targetAppKey, body: .text(text)),
                                  from: sender, platform: "web")
    }
}

/// Expects `body` to throw a `HubError` with this code.
func expectHubError(_ code: Int, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected HubError \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as HubError {
        #expect(e.code.rawValue == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected HubError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

extension InboxEntry {
    /// Whether a message entry is marked `no_notification`.
    var isQuiet: Bool {
        if case .message(_, let quiet) = payload { return quiet }
        return false
    }
}
