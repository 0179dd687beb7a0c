import Bridge
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import IMProtocol
import NIOCore
import Server
import Synchronization
import Testing

/// A clock the push tests move by hand (rate-limit refills, TTLs).
final class PushClock: Sendable {
    private let millis = Atomic<Int64>(1_800_000_000_000)
    var now: @Sendable () -> Int64 { { [self] in millis.load(ordering: .relaxed) } }
    func advance(seconds: Int64) { millis.add(seconds * 1000, ordering: .relaxed) }
}

/// The server with a bridge: the first test app pushes, the second holds the accounts (alias `uid_{username}`).
struct PushServer: Sendable {
    let server: TestServer
    let bridge: Bridge
    let clock: PushClock

    static let rule = BridgeRule(name: "orders", pushAppKey: Apps.appKey, accountsAppKey: Apps.otherAppKey,
                                 alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot")

    func post(_ uri: String, _ body: String?, as credentials: Credentials = .main) async throws -> Reply {
        try await server.post(uri, body, as: credentials)
    }

    func post(_ uri: String, json: JSONValue, as credentials: Credentials = .main) async throws -> Reply {
        try await server.post(uri, json: json, as: credentials)
    }

    func get(_ uri: String, as credentials: Credentials = .main) async throws -> Reply {
        try await server.get(uri, as: credentials)
    }

    func request(_ method: HTTPRequest.Method, _ uri: String, body: JSONValue? = nil,
                 as credentials: Credentials = .main) async throws -> Reply {
        try await server.request(method, uri, as: credentials, body: body?.serializedString())
    }

    /// Registers accounts in the accounts app.
    func accounts(_ names: String...) async throws {
        for name in names {
            _ = try await server.hub.register(appKey: Apps.otherAppKey, NewUser(username: name, password: "password"), kind: .user)
        }
    }

    /// Pushes a notification to aliases and returns the msg_id.
    func push(_ alert: String, to aliases: [String]) async throws -> Int64 {
        let reply = try await post("/v3/push", json: Push.alert(alert, aliases: aliases))
        try #require(reply.status == .ok, "\(reply)")
        return try #require(Int64(try reply.json()["msg_id"]?.stringValue ?? ""))
    }
}

/// Runs `test` against a hub and a bridge on fresh SQLite files.
func withPushServer<T: Sendable>(rules: [BridgeRule] = [PushServer.rule], rateLimit: RateLimit = RateLimit(),
                                 _ test: @Sendable (PushServer) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-pushtests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let clock = PushClock()
    let hub = try await Hub(configuration: .init(apps: Apps.settings, passwordCost: 4, clock: clock.now),
                            store: SQLiteHubStore(path: dir.path + "/hub.sqlite"))
    let bridge = try await Bridge(configuration: .init(rules: rules, rateLimit: rateLimit), hub: hub,
                                  store: SQLiteBridgeStore(path: dir.path + "/bridge.sqlite"))
    let app = HTTPServer.application(hub: hub, configuration: .init(port: 0), bridge: bridge)
    return try await app.test(.router) { client in
        try await test(PushServer(server: TestServer(client: client, hub: hub), bridge: bridge, clock: clock))
    }
}

/// Push bodies.
enum Push {
    static func alert(_ text: String, aliases: [String], cid: String? = nil) -> JSONValue {
        var o: [String: JSONValue] = [
            "platform": "all", "audience": ["alias": .array(aliases.map(JSONValue.string))],
            "notification": ["alert": .string(text)], "options": ["sendno": 18],
        ]
        if let cid { o["cid"] = .string(cid) }
        return .object(o)
    }
}

/// Checks a JPush error answer: status, `error.code`, an optional message fragment, and the rate-limit headers.
func expectPushError(_ reply: Reply, status: HTTPResponse.Status, code: Int, messageContains: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == status, "\(reply)", sourceLocation: sourceLocation)
    guard let json = try? reply.json(), let error = json["error"] else {
        Issue.record("not a JPush error body: \(reply)", sourceLocation: sourceLocation)
        return
    }
    #expect(error["code"]?.intValue == Int64(code), "\(reply)", sourceLocation: sourceLocation)
    let message = error["message"]?.stringValue ?? ""
    #expect(!message.isEmpty, "\(reply)", sourceLocation: sourceLocation)
    if let messageContains {
        #expect(message.contains(messageContains), "\(message)", sourceLocation: sourceLocation)
    }
    expectRateHeaders(reply, sourceLocation: sourceLocation)
}

/// Checks that the three `X-Rate-Limit-*` headers are there and numeric.
func expectRateHeaders(_ reply: Reply, sourceLocation: SourceLocation = #_sourceLocation) {
    for name in ["X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"] {
        let value = reply.headers[HTTPField.Name(name)!]
        #expect(value.flatMap { Int($0) } != nil, "\(name): \(value ?? "missing")", sourceLocation: sourceLocation)
    }
}
