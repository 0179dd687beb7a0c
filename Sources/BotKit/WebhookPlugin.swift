import AsyncHTTPClient
import Crypto
import Foundation
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1

/// A plugin that is an HTTP endpoint (`webhook:` in `bots.yaml`): each event is POSTed as JSON and the response
/// carries the actions.
///
/// With a secret, the body is signed: `X-Mynah-Signature: sha256=<hex HMAC-SHA256(secret, body)>`. Every attempt
/// has its own time limit; connection errors, 429 and 5xx answers are retried with doubling delays (the same
/// `X-Mynah-Delivery` id each time, so the endpoint can drop repeats). The format is in `docs/plugins.md`.
public struct WebhookPlugin: BotPlugin {
    /// The plugin's id in its bot.
    public let id: String
    let url: String
    let secret: String?
    let configuration: JSONValue
    let timeout: Duration
    let retries: Int
    let retryDelay: Duration
    let client: HTTPClient
    let logger: Logger

    /// Creates a webhook plugin.
    /// - Parameters:
    ///   - timeout: The limit of one attempt.
    ///   - retries: Further attempts after a retryable failure.
    ///   - retryDelay: The delay before the first retry; it doubles each time.
    public init(id: String, url: String, secret: String?, configuration: JSONValue = [:], timeout: Duration,
                retries: Int, retryDelay: Duration = .milliseconds(200), client: HTTPClient = .shared,
                logger: Logger = Logger(label: "mynah.plugin")) {
        self.id = id
        self.url = url
        self.secret = secret
        self.configuration = configuration
        self.timeout = timeout
        self.retries = retries
        self.retryDelay = retryDelay
        self.client = client
        var logger = logger
        logger[metadataKey: "plugin"] = "\(id)"
        self.logger = logger
    }

    /// The longest one event may take with every retry, for the bot's own limit.
    public var totalTimeLimit: Duration {
        var total = timeout * (retries + 1)
        var delay = retryDelay
        for _ in 0..<retries {
            total += delay
            delay *= 2
        }
        return total
    }

    /// Nothing to start; the endpoint is called per event.
    public func start(context: PluginContext) async throws {}
    /// Webhooks declare no commands (their commands would need a handshake); use `schedules:` for ticks.
    public func commands() async -> [CommandSpec] { [] }
    /// None beyond the configuration's.
    public func schedules() async -> [Schedule] { [] }
    /// Nothing to stop.
    public func stop() async {}

    /// The hex HMAC-SHA256 of `body` under `secret`, as the signature header carries it.
    public static func signature(of body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// POSTs the event and reads the actions from the answer.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        var data: [String: JSONValue] = [:]
        for entry in try await context.store.entries().prefix(100) { data[entry.key] = entry.value }
        let payload: JSONValue = [
            "plugin": .string(id),
            "bot": ["name": .string(context.bot.name), "appkey": .string(context.bot.appKey),
                    "username": .string(context.bot.username)],
            "config": configuration,
            "data": .object(data),
            "event": event.json,
        ]
        let body = payload.serialized()
        let delivery = UUID().uuidString
        var delay = retryDelay
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await post(body, delivery: delivery)
            } catch let failure as Failure where failure.retryable && attempt <= retries {
                logger.warning("webhook failed; retrying", metadata: ["error": "\(failure.message)",
                                                                      "attempt": "\(attempt)"])
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var retryable: Bool
        var description: String { message }
    }

    func post(_ body: [UInt8], delivery: String) async throws -> [BotAction] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "mynah-bot")
        request.headers.add(name: "X-Mynah-Delivery", value: delivery)
        if let secret { request.headers.add(name: "X-Mynah-Signature", value: Self.signature(of: body, secret: secret)) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let limit = TimeAmount.nanoseconds(timeout.wholeNanoseconds)
        let response: HTTPClientResponse
        let answer: ByteBuffer
        do {
            response = try await client.execute(request, timeout: limit)
            answer = try await response.body.collect(upTo: 12 << 20)   // room for an 8 MB attachment in base64
        } catch {
            throw Failure(message: "POST \(url): \(error)", retryable: true)
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw Failure(message: "POST \(url): HTTP \(status)", retryable: status == 429 || status >= 500)
        }
        if answer.readableBytes == 0 { return [] }
        do {
            let json = try JSONValue.parse(answer.readableBytesView)
            return try BotAction.list(json["actions"], path: "actions")
        } catch {
            throw Failure(message: "POST \(url): invalid answer: \(error)", retryable: false)
        }
    }
}
