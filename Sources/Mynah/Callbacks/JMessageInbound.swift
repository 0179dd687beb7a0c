import AsyncHTTPClient
import Foundation
import GRDB
import IMProtocol
import Logging
import NIOCore
import Server
import Synchronization

/// The daemon's side of JMessage's message routing for bots on the real JMessage (`hub.jmessage`): receives the
/// app's callbacks on each bot's `callback_path`, keeps what concerns each bot in a durable inbox (once per `msgid`,
/// however often JMessage repeats a callback) and wakes the bot's connection.
///
/// A callback is answered 200 only after its messages are stored, so an acknowledged callback is never lost.
final class JMessageInbound: Sendable {
    /// One bot on JMessage: who it is there, and the groups it is in (asked of the REST API, cached).
    final class BotRoute: Sendable {
        let name: String
        let username: String
        let settings: MynahConfiguration.JMessageHub
        let client: HTTPClient
        let logger: Logger
        private let state = Mutex<(groups: Set<String>, notMember: [String: ContinuousClock.Instant],
                                   wake: (@Sendable () -> Void)?)>(([], [:], nil))
        /// How long "not in this group" is believed before the REST API is asked again.
        static let negativeLifetime: Duration = .seconds(5)

        init(name: String, username: String, settings: MynahConfiguration.JMessageHub, client: HTTPClient, logger: Logger) {
            self.name = name
            self.username = username
            self.settings = settings
            self.client = client
            self.logger = logger
        }

        /// Sets (or clears) what wakes the bot's running connection.
        func setWake(_ wake: (@Sendable () -> Void)?) { state.withLock { $0.wake = wake } }

        func wake() { state.withLock { $0.wake }?() }

        /// Whether a routed message is for this bot: to it, or to a group it is in; never its own.
        func concerns(_ message: Message) async throws -> Bool {
            if message.fromID == username { return false }
            switch message.targetType {
            case .single: return message.targetID == username
            case .chatroom: return false
            case .group: return try await isMember(gid: message.targetID)
            }
        }

        func isMember(gid: String) async throws -> Bool {
            let known = state.withLock { s -> Bool? in
                if s.groups.contains(gid) { return true }
                if let since = s.notMember[gid], since.duration(to: .now) < Self.negativeLifetime { return false }
                return nil
            }
            if let known { return known }
            let groups = try await JMessageREST(settings: settings, client: client).groups(of: username)
            return state.withLock { s in
                s.groups = groups
                if groups.contains(gid) { return true }
                s.notMember[gid] = .now
                return false
            }
        }
    }

    let outbox: CallbackOutbox
    let logger: Logger
    /// The bots by callback path, then by name.
    let routes: Mutex<[String: [String: BotRoute]]>
    /// The paths the HTTP server serves (fixed at start).
    let paths: [String: MynahConfiguration.JMessageHub]

    init(bots: [MynahConfiguration.Bot], outbox: CallbackOutbox, client: HTTPClient = .shared, logger: Logger) {
        self.outbox = outbox
        self.logger = logger
        var routes: [String: [String: BotRoute]] = [:]
        var paths: [String: MynahConfiguration.JMessageHub] = [:]
        for bot in bots {
            guard let settings = bot.options.jmessage else { continue }
            routes[settings.callbackPath, default: [:]][bot.name] =
                BotRoute(name: bot.name, username: bot.username, settings: settings, client: client, logger: logger)
            paths[settings.callbackPath] = settings
        }
        self.routes = Mutex(routes)
        self.paths = paths
    }

    /// Bots on one callback path must be of one app: the path's callbacks carry that app's credentials.
    static func validate(_ configuration: MynahConfiguration) throws(ConfigurationError) {
        var byPath: [String: (index: Int, settings: MynahConfiguration.JMessageHub)] = [:]
        for (index, bot) in configuration.bots.enumerated() {
            guard let settings = bot.options.jmessage else { continue }
            if let other = byPath[settings.callbackPath],
               other.settings.appKey != settings.appKey || other.settings.masterSecret != settings.masterSecret {
                throw ConfigurationError(location: bot.location, path: "bots[\(index)].hub.jmessage.callback_path",
                                         message: "bots[\(other.index)] receives another app's callbacks on "
                                             + "'\(settings.callbackPath)'; give each app its own path")
            }
            byPath[settings.callbackPath] = (index, settings)
        }
    }

    /// The route of a bot (made on a reload for a bot new on an existing path); `nil` when its path is not served.
    func route(for spec: MynahConfiguration.Bot, client: HTTPClient = .shared) -> BotRoute? {
        guard let settings = spec.options.jmessage, paths[settings.callbackPath] != nil else { return nil }
        return routes.withLock { r in
            if let existing = r[settings.callbackPath]?[spec.name], existing.username == spec.username,
               existing.settings == settings {
                return existing
            }
            let made = BotRoute(name: spec.name, username: spec.username, settings: settings, client: client, logger: logger)
            r[settings.callbackPath, default: [:]][spec.name] = made
            return made
        }
    }

    /// The HTTP routes to serve.
    var httpRoutes: [HTTPServer.ExtraRoute] {
        paths.keys.sorted().map { path in
            HTTPServer.ExtraRoute(path: path) { [self] authorization, body in
                await self.receive(path: path, authorization: authorization, body: body)
            }
        }
    }

    static func errorBody(_ code: Int, _ message: String) -> [UInt8] {
        JSONValue.object(["error": .object(["code": .int(Int64(code)), "message": .string(message)])]).serialized()
    }

    /// One routing callback: checks the Basic credentials, reads the batch, stores each bot's messages once.
    func receive(path: String, authorization: String?, body: [UInt8]) async -> (status: Int, body: [UInt8]) {
        guard let settings = paths[path] else { return (404, Self.errorBody(899000, "no such callback path")) }
        guard Self.authorized(authorization, appKey: settings.appKey, secret: settings.masterSecret) else {
            logger.warning("routing callback refused: bad credentials", metadata: ["path": "\(path)"])
            return (401, Self.errorBody(899008, "Basic authentication failed"))
        }
        let messages: [StoredMessage]
        do {
            messages = try RoutingFormat.parse(body)
        } catch {
            logger.warning("routing callback refused: bad body", metadata: ["path": "\(path)", "field": "\(error.path)",
                                                                              "error": "\(error.description)"])
            return (400, Self.errorBody(899003, error.description))
        }
        let bots = routes.withLock { Array(($0[path] ?? [:]).values) }
        var rows: [(bot: String, msgID: Int64, body: [UInt8])] = []
        do {
            for stored in messages {
                for bot in bots {
                    guard try await bot.concerns(stored.message) else { continue }
                    rows.append((bot.name, stored.msgID, stored.historyJSON(appKey: settings.appKey).serialized()))
                }
            }
        } catch {
            logger.error("routing callback: cannot read the bot's groups from JMessage", metadata: ["error": "\(error)"])
            return (503, Self.errorBody(899030, "cannot check the bot's groups now; send again"))
        }
        let woken: Set<String>
        do {
            woken = try await outbox.storeJMessage(rows)
        } catch {
            logger.error("routing callback: cannot store it", metadata: ["error": "\(error)"])
            return (500, Self.errorBody(899000, "cannot store the messages"))
        }
        for bot in bots where woken.contains(bot.name) { bot.wake() }
        return (200, Array("{}".utf8))
    }

    /// Whether `authorization` is `Basic base64(appKey:secret)`.
    static func authorized(_ authorization: String?, appKey: String, secret: String) -> Bool {
        guard let authorization, authorization.count > 6, authorization.prefix(6).lowercased() == "basic ",
              let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return false }
        return data == Data("\(appKey):\(secret)".utf8)
    }
}

extension CallbackOutbox {
    /// Stores routed messages in their bots' inboxes, each (bot, msgid) once; returns the bots that got new ones.
    func storeJMessage(_ rows: [(bot: String, msgID: Int64, body: [UInt8])]) async throws -> Set<String> {
        if rows.isEmpty { return [] }
        return try await pool.write { db in
            var bots: Set<String> = []
            let insert = try db.cachedStatement(
                sql: "INSERT INTO jmessage_inbox (bot, msgid, body) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            for row in rows {
                try insert.execute(arguments: [row.bot, row.msgID, Data(row.body)])
                if db.changesCount > 0 { bots.insert(row.bot) }
            }
            return bots
        }
    }

    /// A bot's inbox entries after `seq`, in order.
    func jmessageInbox(bot: String, after seq: Int64, limit: Int) async throws -> [ServerFrame.Delivery] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, body FROM jmessage_inbox WHERE bot = ? AND seq > ? ORDER BY seq LIMIT ?",
                             arguments: [bot, seq, limit]).map { row in
                let body: Data = row["body"]
                return ServerFrame.Delivery(seq: row["seq"],
                                            stored: try RoutingFormat.message(try JSONValue.parse(body), path: ""))
            }
        }
    }

    /// The highest entry a bot acknowledged.
    func jmessageAcked(bot: String) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT acked FROM jmessage_cursor WHERE bot = ?", arguments: [bot]) ?? 0
        }
    }

    /// Records that a bot handled its entries up to `seq`.
    func jmessageAck(bot: String, seq: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO jmessage_cursor (bot, acked) VALUES (?, ?)
                ON CONFLICT(bot) DO UPDATE SET acked = MAX(acked, excluded.acked)
                """, arguments: [bot, seq])
        }
    }
}
