import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import IMProtocol
import NIOCore
import Server
import Testing

/// The two apps every test hub serves.
enum Apps {
    static let appKey = "4f7aef34fb361292c566a1cd"
    static let masterSecret = "054d6103823a726fc12d0466"
    static let otherAppKey = "otherappkey0000000000000"
    static let otherSecret = "othersecret"

    static var settings: [AppSettings] {
        [AppSettings(appKey: appKey, masterSecret: masterSecret),
         AppSettings(appKey: otherAppKey, masterSecret: otherSecret)]
    }
}

/// The `Authorization` header value for Basic `appKey:secret`.
func basic(_ appKey: String, _ secret: String) -> String {
    "Basic " + Data("\(appKey):\(secret)".utf8).base64EncodedString()
}

/// Who a test request claims to be.
enum Credentials: Sendable {
    /// Basic appKey:secret.
    case app(String, String)
    /// No Authorization header at all.
    case none
    /// This exact Authorization header value.
    case header(String)

    /// The first app's master secret.
    static let main = Credentials.app(Apps.appKey, Apps.masterSecret)
    /// The second app's master secret.
    static let other = Credentials.app(Apps.otherAppKey, Apps.otherSecret)

    var headerValue: String? {
        switch self {
        case .app(let key, let secret): basic(key, secret)
        case .none: nil
        case .header(let value): value
        }
    }
}

/// A response, with its body as text.
struct Reply: Sendable, CustomStringConvertible {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String

    /// The body parsed as JSON.
    func json() throws -> JSONValue {
        try JSONValue.parse(text)
    }

    var description: String { "\(status.code) \(text)" }
}

/// The server under test, driven through the router (no socket), and the hub behind it.
struct TestServer: Sendable {
    let client: any TestClientProtocol
    let hub: Hub

    /// Sends one request; `body` is sent as is, with `contentType` when given.
    func request(
        _ method: HTTPRequest.Method, _ uri: String, as credentials: Credentials = .main, body: String? = nil,
        contentType: String? = "application/json"
    ) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let auth = credentials.headerValue { headers[.authorization] = auth }
        if body != nil, let contentType { headers[.contentType] = contentType }
        return try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
        ) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    func post(_ uri: String, _ body: String?, as credentials: Credentials = .main,
              contentType: String? = "application/json") async throws -> Reply {
        try await request(.post, uri, as: credentials, body: body, contentType: contentType)
    }

    func post(_ uri: String, json: JSONValue, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.post, uri, as: credentials, body: json.serializedString())
    }

    /// Posts raw bytes, for bodies that are not valid UTF-8.
    func post(_ uri: String, bytes: [UInt8], as credentials: Credentials = .main) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let auth = credentials.headerValue { headers[.authorization] = auth }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) {
            response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    func get(_ uri: String, as credentials: Credentials = .main) async throws -> Reply {
        try await request(.get, uri, as: credentials)
    }

    /// The password `registerUsers` and `registerAdmin` give every account.
    static let password = "secret-password"

    /// Registers users (password `TestServer.password`) and requires every element to succeed.
    func registerUsers(_ usernames: [String], as credentials: Credentials = .main,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let body = JSONValue.array(usernames.map { ["username": .string($0), "password": .string(Self.password)] })
        let reply = try await post("/v1/users/", json: body, as: credentials)
        try #require(reply.status == .created, "\(reply)", sourceLocation: sourceLocation)
        let items = try #require(try reply.json().arrayValue, sourceLocation: sourceLocation)
        for item in items {
            #expect(item["error"] == nil, "\(item)", sourceLocation: sourceLocation)
        }
    }

    /// Registers one admin.
    func registerAdmin(_ username: String, as credentials: Credentials = .main,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let reply = try await post(
            "/v1/admins/", json: ["username": .string(username), "password": .string(Self.password)],
            as: credentials)
        try #require(reply.status == .created, "\(reply)", sourceLocation: sourceLocation)
    }

    /// Sends a text message as an admin through POST /v1/messages; returns (msg_id, msg_ctime).
    @discardableResult
    func sendText(from admin: String, to target: String, _ text: String,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> (msgID: Int64, msgCtime: Int64) {
        let reply = try await post("/v1/messages", json: Messages.text(from: admin, to: target, text))
        try #require(reply.status == .created, "\(reply)", sourceLocation: sourceLocation)
        let json = try reply.json()
        let id = try #require(json["msg_id"]?.intValue, sourceLocation: sourceLocation)
        let ctime = try #require(json["msg_ctime"]?.intValue, sourceLocation: sourceLocation)
        return (id, ctime)
    }
}

/// Runs `test` against a fresh hub in a fresh temporary directory, removed afterwards.
func withServer<T: Sendable>(_ test: @Sendable (TestServer) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-servertests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = try SQLiteHubStore(path: dir.path + "/hub.sqlite")
    let hub = try await Hub(configuration: .init(apps: Apps.settings, passwordCost: 4), store: store)
    let app = HTTPServer.application(hub: hub, configuration: .init(port: 0))
    return try await app.test(.router) { client in
        try await test(TestServer(client: client, hub: hub))
    }
}

/// Checks a JMessage error answer: status, `error.code`, and optionally the message.
func expectError(
    _ reply: Reply, status: HTTPResponse.Status, code: Int, message: String? = nil, messagePrefix: String? = nil,
    messageContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reply.status == status, "\(reply)", sourceLocation: sourceLocation)
    guard let json = try? reply.json(), let error = json["error"] else {
        Issue.record("not a JMessage error body: \(reply)", sourceLocation: sourceLocation)
        return
    }
    #expect(json.objectValue?.keys.sorted() == ["error"], "\(reply)", sourceLocation: sourceLocation)
    #expect(error["code"]?.intValue == Int64(code), "\(reply)", sourceLocation: sourceLocation)
    let text = error["message"]?.stringValue
    #expect(text != nil && text?.isEmpty == false, "\(reply)", sourceLocation: sourceLocation)
    if let message {
        #expect(text == message, sourceLocation: sourceLocation)
    }
    if let messagePrefix {
        #expect(text?.hasPrefix(messagePrefix) == true, "\(text ?? "nil")", sourceLocation: sourceLocation)
    }
    if let messageContains {
        #expect(text?.contains(messageContains) == true, "\(text ?? "nil")", sourceLocation: sourceLocation)
    }
}

/// Checks a per-element error of a batch answer.
func expectElementError(
    _ element: JSONValue?, code: Int, messageContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let error = element?["error"] else {
        Issue.record("element has no error: \(String(describing: element))", sourceLocation: sourceLocation)
        return
    }
    #expect(error["code"]?.intValue == Int64(code), "\(error)", sourceLocation: sourceLocation)
    if let messageContains {
        #expect(error["message"]?.stringValue?.contains(messageContains) == true, "\(error)",
                sourceLocation: sourceLocation)
    }
}

extension JSONValue {
    /// The elements when this is an array.
    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The keys of an object, sorted; empty for anything else.
    var sortedKeys: [String] {
        objectValue?.keys.sorted() ?? []
    }
}

/// Bodies of POST /v1/messages.
enum Messages {
    static func text(from admin: String, to target: String, _ text: String) -> JSONValue {
        [
            "version": 1, "target_type": "single", "target_id": .string(target), "from_type": "admin",
            "from_id": .string(admin), "msg_type": "text", "msg_body": ["text": .string(text)],
        ]
    }
}

/// Returns a copy of the object `value` with `key` set to `newValue`, or removed when `newValue` is nil.
func setting(_ key: String, to newValue: JSONValue?, in value: JSONValue) -> JSONValue {
    var o = value.objectValue ?? [:]
    o[key] = newValue
    return .object(o)
}

/// Times as the JMessage REST API writes them: `yyyy-MM-dd HH:mm:ss` in UTC.
enum WireClock {
    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// `format(date)` with the space URL-encoded as `%20`.
    static func encoded(_ date: Date) -> String {
        format(date).replacingOccurrences(of: " ", with: "%20")
    }

    /// Parses `yyyy-MM-dd HH:mm:ss` (UTC) into milliseconds since 1970.
    static func parseMillis(_ text: String) -> Int64? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3],
                                        minute: parts[4], second: parts[5])
        return calendar.date(from: components).map { Int64($0.timeIntervalSince1970 * 1000) }
    }

    /// `count=N&begin_time=...&end_time=...` for a window around now.
    static func window(count: Int, before: TimeInterval = 3600, after: TimeInterval = 3600) -> String {
        let now = Date()
        return "count=\(count)&begin_time=\(encoded(now - before))&end_time=\(encoded(now + after))"
    }
}

/// The current time in milliseconds since 1970.
func nowMillis() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// base64url without padding, as the history cursor is written.
func base64URL(_ text: String) -> String {
    Data(text.utf8).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

extension InboxEntry {
    /// The message of a message entry; for an event entry a sentinel (msg_id -1) that equals no real message, so a
    /// test expecting a message fails.
    var message: StoredMessage {
        stored ?? StoredMessage(msgID: -1, msgCtime: -1, message: Message(
            targetType: .single, targetID: "-", fromType: .user, fromID: "-", fromPlatform: nil, createTime: 0, body: .text("not a message")))
    }
}
