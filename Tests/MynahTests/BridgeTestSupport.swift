import Bridge
import Foundation
import Hub
import Hummingbird
import IMClient
import IMProtocol
import Logging
import Testing
@testable import Mynah

/// The bridge's end-to-end setting: the demo app pushes and holds the accounts (alias `uid_{username}`), and a
/// second app, `shopappkey`, pushes into the demo app's accounts with aliases equal to usernames.
enum BridgeDemo {
    static let shopAppKey = "shopappkey"
    static let shopSecret = "shop-master-secret"
    static let shopBasic = "Basic " + Data("\(shopAppKey):\(shopSecret)".utf8).base64EncodedString()

    static func configure(_ config: inout MynahConfiguration, receipt: ReceiptPolicy? = nil) {
        config.apps.append(.init(appKey: shopAppKey, masterSecret: shopSecret, name: "Shop"))
        config.bridge.configuration.rules = [
            BridgeRule(name: "demo", pushAppKey: Demo.appKey, alias: .template(prefix: "uid_", suffix: ""),
                       robot: "notify_bot", receipt: receipt),
            BridgeRule(name: "shop", pushAppKey: shopAppKey, accountsAppKey: Demo.appKey, alias: .equal,
                       robot: "order_bot", message: .template(try! MessageTemplate("Order {extras.order_id}: {alert}"))),
        ]
    }

    /// Options with a hand-moved clock; the deadline service never runs on its own (tests call `runDue`).
    static func options(_ clock: ManualClock) -> Daemon.Options {
        var options = Daemon.Options(passwordCost: 4, clock: clock.now)
        options.bridgeInterval = .seconds(86400)
        return options
    }

    /// POST /v3/push as the demo app (or `authorization`); returns the msg_id, failing the test on anything but 200.
    static func push(_ port: Int, _ body: JSONValue, authorization: String = Demo.basic,
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws -> Int64 {
        let (status, json) = try await REST(port: port).call("POST", "/v3/push", body: body.serializedString(),
                                                             authorization: authorization)
        try #require(status == 200, "\(status) \(String(describing: json))", sourceLocation: sourceLocation)
        return try #require(json?["msg_id"]?.stringValue.flatMap { Int64($0) }, sourceLocation: sourceLocation)
    }

    static func alert(_ text: String, aliases: [String]? = nil, registrationIDs: [String]? = nil, ttl: Int64? = nil,
                      cid: String? = nil, extras: [String: JSONValue] = [:]) -> JSONValue {
        var audience: [String: JSONValue] = [:]
        if let aliases { audience["alias"] = .array(aliases.map(JSONValue.string)) }
        if let registrationIDs { audience["registration_id"] = .array(registrationIDs.map(JSONValue.string)) }
        var o: [String: JSONValue] = ["platform": "all", "audience": .object(audience),
                                      "notification": ["alert": .string(text), "android": ["extras": .object(extras)]]]
        if let ttl { o["options"] = ["time_to_live": .int(ttl)] }
        if let cid { o["cid"] = .string(cid) }
        return .object(o)
    }

    /// What a device does when an account logs in or out on it: binds or clears its alias.
    static func bind(_ port: Int, device rid: String, alias: String) async throws {
        let (status, json) = try await REST(port: port).call("POST", "/v3/devices/\(rid)",
                                                             body: JSONValue.object(["alias": .string(alias)]).serializedString())
        #expect(status == 200, "\(String(describing: json))")
    }

    /// The report API's `android_received` for a push.
    static func received(_ port: Int, _ msgID: Int64) async throws -> Int64? {
        let (status, json) = try await REST(port: port).call("GET", "/v3/received?msg_ids=\(msgID)")
        #expect(status == 200)
        return json?.arrayValue?.first?["android_received"]?.intValue
    }

    /// Acknowledges `seq` and waits until the gateway processed it (a later send's answer comes after it).
    static func acknowledge(_ client: IMClient, _ seq: Int64, to peer: String) async throws {
        client.ack(seq)
        _ = try await client.send(.init(targetID: peer, body: .text("ack barrier")))
    }
}

extension JSONValue {
    /// The elements when this is an array.
    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// A local HTTP server that records the JSON bodies POSTed to it, for webhook escalations.
final class WebhookReceiver: Sendable {
    let hits: AsyncStream<JSONValue>
    private let continuation: AsyncStream<JSONValue>.Continuation

    init() {
        (hits, continuation) = AsyncStream.makeStream(of: JSONValue.self)
    }

    /// Runs the receiver on 127.0.0.1, port 0, around `body`, which gets its URL (`/hooks/unreceived`; the same
    /// base with `/hooks/broken` answers 500).
    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/hooks/unreceived") { [continuation] request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            continuation.yield(try JSONValue.parse(Array(buffer.readableBytesView)))
            return Response(status: .ok)
        }
        router.post("/hooks/broken") { _, _ -> Response in Response(status: .internalServerError) }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "mynah.test.webhook")
        logger.logLevel = .critical   // the server is cancelled, not shut down gracefully, when the test ends
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        try await body("http://127.0.0.1:\(port)/hooks/unreceived")
    }
}
