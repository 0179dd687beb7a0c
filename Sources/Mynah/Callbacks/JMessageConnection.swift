import AsyncHTTPClient
import BotKit
import Foundation
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What a bot on the real JMessage asks of its REST API: register its admin account, send, list its groups.
struct JMessageREST: Sendable {
    /// A refusal or failure of the REST API, with JMessage's error code when it sent one.
    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var code: Int64?
        var message: String
        var description: String { "JMessage REST: HTTP \(status)" + (code.map { " code \($0)" } ?? "") + ": \(message)" }
    }

    let settings: MynahConfiguration.JMessageHub
    let client: HTTPClient
    /// The limit of one request.
    var timeout: TimeAmount = .seconds(10)

    /// Calls `method path` with the app's Basic credentials; returns the status and the JSON answer, if any.
    func call(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: settings.api + path)
        request.method = method
        let credentials = Data("\(settings.appKey):\(settings.masterSecret)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        request.headers.add(name: "User-Agent", value: "mynah-bot")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        let response = try await client.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: 4 << 20)
        let json = answer.readableBytes == 0 ? nil : try? JSONValue.parse(answer.readableBytesView)
        return (Int(response.status.code), json)
    }

    func failure(_ status: Int, _ json: JSONValue?) -> Failure {
        Failure(status: status, code: json?["error"]?["code"]?.intValue,
                message: json?["error"]?["message"]?.stringValue ?? "unexpected answer")
    }

    /// Registers the bot's admin account; an account that already exists (899001) is fine.
    func ensureAdmin(username: String, password: String, nickname: String?) async throws {
        var admin: [String: JSONValue] = ["username": .string(username), "password": .string(password)]
        if let nickname { admin["nickname"] = .string(nickname) }
        let (status, json) = try await call(.POST, "/v1/admins/", body: .object(admin))
        if status == 201 || status == 200 { return }
        let failure = failure(status, json)
        if failure.code == 899001 { return }
        throw failure
    }

    /// The gids of the groups `username` is in.
    func groups(of username: String) async throws -> Set<String> {
        let (status, json) = try await call(.GET, "/v1/users/\(username)/groups/")
        guard status == 200, case .array(let groups)? = json else { throw failure(status, json) }
        return Set(groups.compactMap { $0["gid"].flatMap { $0.intValue.map(String.init) ?? $0.stringValue } })
    }

    /// Sends as the admin `username` (JMessage's REST API sends only as `from_type: admin`).
    func send(_ message: ClientFrame.Send, from username: String, nickname: String?) async throws -> ServerFrame.Sent {
        var o: [String: JSONValue] = [
            "version": 1, "target_type": .string(message.targetType.rawValue), "target_id": .string(message.targetID),
            "from_type": "admin", "from_id": .string(username), "msg_type": .string(message.body.type.rawValue),
            "msg_body": message.body.json,
        ]
        if let appKey = message.targetAppKey { o["target_appkey"] = .string(appKey) }
        if let name = message.targetName { o["target_name"] = .string(name) }
        if let name = message.fromName ?? nickname { o["from_name"] = .string(name) }
        if message.noOffline { o["no_offline"] = true }
        let (status, json) = try await call(.POST, "/v1/messages", body: .object(o))
        guard status == 201, let id = json?["msg_id"]?.intValue else { throw failure(status, json) }
        return ServerFrame.Sent(id: message.id, msgID: id, msgCtime: json?["msg_ctime"]?.intValue ?? 0)
    }
}

/// A bot's connection to the real JMessage: its inbox is what the app's routing callbacks brought for it (kept
/// durably by ``JMessageInbound``), its sends go through the REST API as the bot's admin account.
final class JMessageConnection: BotConnection {
    let inbox: AsyncStream<ConnectionEvent>
    let route: JMessageInbound.BotRoute
    let rest: JMessageREST
    let outbox: CallbackOutbox
    let nickname: String?
    private let reader: Task<Void, Never>
    private let wakes: AsyncStream<Void>.Continuation

    /// Registers the bot's admin account, then opens its inbox from the last entry it acknowledged.
    static func open(route: JMessageInbound.BotRoute, password: String, nickname: String?, outbox: CallbackOutbox,
                     client: HTTPClient = .shared, logger: Logger) async throws -> JMessageConnection {
        let rest = JMessageREST(settings: route.settings, client: client)
        try await rest.ensureAdmin(username: route.username, password: password, nickname: nickname)
        let acked = try await outbox.jmessageAcked(bot: route.name)
        return JMessageConnection(route: route, rest: rest, outbox: outbox, nickname: nickname, after: acked, logger: logger)
    }

    private init(route: JMessageInbound.BotRoute, rest: JMessageREST, outbox: CallbackOutbox, nickname: String?,
                 after acked: Int64, logger: Logger) {
        self.route = route
        self.rest = rest
        self.outbox = outbox
        self.nickname = nickname
        let (wakeStream, wakes) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wakes = wakes
        let (stream, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
        inbox = stream
        let bot = route.name
        reader = Task {
            var after = acked
            var iterator = wakeStream.makeAsyncIterator()
            reading: while !Task.isCancelled {
                do {
                    let entries = try await outbox.jmessageInbox(bot: bot, after: after, limit: 100)
                    for entry in entries {
                        continuation.yield(.delivery(entry))
                        after = entry.seq
                    }
                    if entries.count == 100 { continue }
                } catch {
                    logger.error("bot's JMessage inbox unreadable; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                // Woken by the next stored callback; the stream ends when the connection closes.
                guard await iterator.next() != nil else { break reading }
            }
            continuation.finish()
        }
        route.setWake { wakes.yield() }
        wakes.yield()   // entries stored before the wake was set are read at once
    }

    /// Sends through the REST API as the bot's admin account.
    func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent {
        try await rest.send(message, from: route.username, nickname: nickname)
    }

    /// Records durably that the bot handled its entries up to `seq`.
    func ack(_ seq: Int64) {
        let outbox = outbox, bot = route.name
        Task { try? await outbox.jmessageAck(bot: bot, seq: seq) }
    }

    /// Stops reading the inbox; the inbox stream ends.
    func close() {
        route.setWake(nil)
        wakes.finish()
        reader.cancel()
    }
}
