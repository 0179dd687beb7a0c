import Bridge
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import IMProtocol
import NIOCore

/// `/console` and `/chat`: the pages, their sign-in, and the console's calls.
///
/// Every change to the hub goes through the REST API itself: `/console/api/apps/{appkey}/rest/v1/...` checks the
/// session, its CSRF token and that the session may manage that app, then hands the request, rewritten to
/// `/v1/...` with the app's Basic credentials, to a responder of the very routes the REST API serves. So the
/// console has the REST API's rules, answers and error codes, by construction. What REST has no call for (the
/// apps, statistics, the bots and their reload, ending a user's sessions, the bridge's recent pushes, the chat's
/// history and conversations) is here, on hub and bridge methods.
struct ConsoleAPI<Context: RequestContext>: Sendable {
    let hub: Hub
    let bridge: Bridge?
    let options: ConsoleOptions
    let sessions: ConsoleSessions
    let assets: ConsoleAssets
    /// The REST routes, built before the console's own were added.
    let rest: RouterResponder<Context>

    static var consoleCookie: String { "mynah_console" }
    static var chatCookie: String { "mynah_chat" }
    /// A bcrypt hash of a random password, checked when the operator name is unknown so that the answer takes as
    /// long as for a known one.
    let decoyHash: String

    init(hub: Hub, bridge: Bridge?, options: ConsoleOptions, rest: RouterResponder<Context>,
         assets: ConsoleAssets = ConsoleAssets()) {
        self.hub = hub
        self.bridge = bridge
        self.options = options
        self.rest = rest
        self.assets = assets
        // The operators' own cost, so that the decoy check takes as long as a real one.
        let cost = options.operators.first.flatMap { UInt8($0.passwordHash.dropFirst(4).prefix(2)) } ?? 10
        decoyHash = Hub.bcryptHash(ConsoleSessions.token(), cost: cost)
        sessions = ConsoleSessions(ttl: options.sessionTTL, maxFailures: options.maxFailures,
                                   failureWindow: options.failureWindow)
    }

    func register(on router: Router<Context>) {
        router.get("/console") { _, _ in assets.response("console.html") }
        router.get("/chat") { _, _ in assets.response("chat.html") }
        router.get("/console/assets/:name") { _, context in assets.response(try context.parameters.require("name")) }
        router.get("/chat/assets/:name") { _, context in assets.response(try context.parameters.require("name")) }

        router.post("/console/api/session") { request, context in try await guarded(request) { try await signIn(request) } }
        router.get("/console/api/session") { request, context in try await guarded(request) { try whoAmI(request) } }
        router.delete("/console/api/session") { request, context in
            try await guarded(request) { try signOut(request, cookie: Self.consoleCookie, path: "/console") }
        }
        router.get("/console/api/apps") { request, context in try await guarded(request) { try listApps(request) } }
        router.post("/console/api/apps") { request, context in try await guarded(request) { try await createApp(request) } }
        router.get("/console/api/apps/:appkey/stats") { request, context in
            try await guarded(request) { try await stats(request, context) }
        }
        router.get("/console/api/bots") { request, context in try await guarded(request) { try await bots(request) } }
        router.get("/console/api/bridge") { request, context in try await guarded(request) { try bridgeRules(request) } }
        router.post("/console/api/bots/reload") { request, context in try await guarded(request) { try await reload(request) } }
        router.get("/console/api/apps/:appkey/users/:username/sessions") { request, context in
            try await guarded(request) { try await userSessions(request, context) }
        }
        router.delete("/console/api/apps/:appkey/users/:username/sessions") { request, context in
            try await guarded(request) { try await endSessions(request, context) }
        }
        router.get("/console/api/apps/:appkey/bridge/pushes") { request, context in
            try await guarded(request) { try await recentPushes(request, context) }
        }
        router.get("/chat/api/history") { request, context in try await guarded(request) { try await chatHistory(request) } }
        router.get("/chat/api/conversations") { request, context in
            try await guarded(request) { try await chatConversations(request) }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("/console/api/apps/:appkey/rest/**", method: method) { request, context in
                try await proxy(request, context)
            }
            router.on("/chat/api/rest/**", method: method) { request, context in try await chatProxy(request, context) }
        }

        router.post("/chat/api/session") { request, context in try await guarded(request) { try await chatSignIn(request) } }
        router.get("/chat/api/session") { request, context in try await guarded(request) { try chatWhoAmI(request) } }
        router.delete("/chat/api/session") { request, context in
            try await guarded(request) { try signOut(request, cookie: Self.chatCookie, path: "/chat") }
        }
    }

    // MARK: Sessions

    /// POST /console/api/session: `{"appkey", "master_secret"}` or `{"operator", "password"}`.
    func signIn(_ request: Request) async throws -> Response {
        try checkOrigin(request)
        let r = try JSONObjectReader.body(try await request.jsonBody(limit: 16 << 10))
        let principal: ConsolePrincipal
        if let name = try r.optionalString("operator", maxLength: 64) {
            let password = try r.string("password", maxLength: 128)
            let key = "operator:\(name)"
            guard sessions.mayTry(key) else { throw Self.tooManyFailures }
            let hash = options.operators.first { $0.name == name }?.passwordHash
            let matches = await Hub.verifyBcrypt(password, hash: hash ?? decoyHash)
            guard hash != nil, matches else {
                sessions.failed(key)
                throw APIError(.authenticationFailed, "wrong operator name or password", status: .unauthorized)
            }
            sessions.succeeded(key)
            principal = .operator(name)
        } else {
            let appKey = try r.nonEmptyString("appkey", maxLength: 128)
            let secret = try r.string("master_secret", maxLength: 256)
            let key = "app:\(appKey)"
            guard sessions.mayTry(key) else { throw Self.tooManyFailures }
            do {
                _ = try hub.authenticateApp(appKey: appKey, secret: secret)
            } catch {
                sessions.failed(key)
                throw APIError(.authenticationFailed, "wrong AppKey or master secret", status: .unauthorized)
            }
            sessions.succeeded(key)
            principal = .app(appKey)
        }
        let (id, csrf) = sessions.open(principal)
        var response = json(.ok, sessionJSON(principal, csrf: csrf))
        response.headers[values: .setCookie] = [cookie(Self.consoleCookie, id, path: "/console")]
        return response
    }

    /// GET /console/api/session: who is signed in, and the CSRF token (for a reloaded page).
    /// Not signed in is `{}` with 200, so that a page asking at load logs no failed request.
    func whoAmI(_ request: Request) throws -> Response {
        guard let session = try? consoleSession(request, change: false).1 else { return json(.ok, [:]) }
        return json(.ok, sessionJSON(session.principal, csrf: session.csrf))
    }

    func signOut(_ request: Request, cookie name: String, path: String) throws -> Response {
        let (id, _) = try session(request, cookie: name, change: true)
        sessions.close(id)
        var response = json(.ok, [:])
        response.headers[values: .setCookie] = ["\(name)=; Path=\(path); Max-Age=0; HttpOnly; SameSite=Strict"]
        return response
    }

    func sessionJSON(_ principal: ConsolePrincipal, csrf: String) -> JSONValue {
        switch principal {
        case .app(let appKey): ["kind": "app", "appkey": .string(appKey), "csrf": .string(csrf)]
        case .operator(let name): ["kind": "operator", "name": .string(name), "csrf": .string(csrf)]
        case .user(let appKey, let username):
            ["kind": "user", "appkey": .string(appKey), "username": .string(username), "csrf": .string(csrf)]
        }
    }

    // MARK: Apps, statistics, bots

    /// GET /console/api/apps: the apps this session may manage; where each comes from.
    func listApps(_ request: Request) throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let apps = hub.allApps().filter { session.principal.manages($0.app.appKey) }
        return json(.ok, ["apps": .array(apps.map { appJSON($0.app, runtime: $0.runtime, secret: false) })])
    }

    /// POST /console/api/apps (operators only): creates an app; the answer is the only one that shows its secret.
    func createApp(_ request: Request) async throws -> Response {
        let (_, session) = try consoleSession(request, change: true)
        guard case .operator = session.principal else {
            throw APIError(.senderNotPermitted, "only an operator may create apps")
        }
        let r = try JSONObjectReader.body(try await request.jsonBody(limit: 16 << 10))
        var new = NewApp(name: try r.string("name"))
        if let v = try r.optionalBool("offline_messages") { new.offlineMessages = v }
        if let v = try r.optionalBool("friend_mode") { new.friendMode = v }
        if let v = try r.optionalInt("max_group_members") { new.maxGroupMembers = Int(clamping: v) }
        if let v = try r.optionalInt("offline_ttl_seconds") { new.offlineTTL = .seconds(v) }
        let app = try await hub.createApp(new)
        return json(.created, appJSON(app, runtime: true, secret: true))
    }

    func appJSON(_ app: AppSettings, runtime: Bool, secret: Bool) -> JSONValue {
        var o: [String: JSONValue] = [
            "appkey": .string(app.appKey), "name": app.name.map(JSONValue.string) ?? .null,
            "source": runtime ? "console" : "bots.yaml", "offline_messages": .bool(app.offlineMessages),
            "offline_ttl_seconds": .int(app.offlineTTL.components.seconds), "friend_mode": .bool(app.friendMode),
            "max_group_members": .int(Int64(app.maxGroupMembers)),
        ]
        if secret { o["master_secret"] = .string(app.masterSecret) }
        return .object(o)
    }

    /// GET /console/api/apps/{appkey}/stats?days=N: the dashboard's numbers.
    func stats(_ request: Request, _ context: Context) async throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let appKey = try context.pathParameter("appkey")
        guard session.principal.manages(appKey) else { throw Self.notYourApp(appKey) }
        let days = try request.uri.queryParameters["days"].map { text -> Int in
            guard let n = Int(text) else { throw APIError(.invalidParameter, "days: expected an integer, got '\(text)'") }
            return n
        } ?? 14
        let stats = try await hub.stats(appKey: appKey, days: days)
        let bots = await options.bots().filter { $0.appKey == appKey }
        var pushes: JSONValue = .null
        if let bridge, bridge.rule(pushAppKey: appKey) != nil {
            do {
                let totals = try await bridge.receiptTotals(appKey: appKey)
                pushes = ["received": .int(Int64(totals.received)), "not_yet_received": .int(Int64(totals.notYetReceived))]
            } catch {
                throw APIError(.internalError, "the bridge's store failed: \(error)", status: .internalServerError)
            }
        }
        return json(.ok, [
            "bridge_receipts": pushes,
            "users": .int(Int64(stats.users)), "active_today": .int(Int64(stats.activeToday)),
            "active_7d": .int(Int64(stats.active7Days)), "groups": .int(Int64(stats.groups)),
            "sessions_online": .int(Int64(hub.presence.sessionCount)),
            "bots": .int(Int64(bots.count)), "bots_connected": .int(Int64(bots.filter(\.connected).count)),
            "messages_per_day": .array(stats.messagesPerDay.map { day in
                ["day": .string(day.day), "counts": .object(day.counts.mapValues { .int(Int64($0)) })]
            }),
        ])
    }

    /// GET /console/api/bots: the bots of the apps this session manages.
    func bots(_ request: Request) async throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let bots = await options.bots().filter { session.principal.manages($0.appKey) }
        return json(.ok, ["bots": .array(bots.map { bot in
            ["name": .string(bot.name), "appkey": .string(bot.appKey), "username": .string(bot.username),
             "plugins": .array(bot.plugins.map(JSONValue.string)), "connected": .bool(bot.connected),
             "connected_since": bot.connectedSince.map { .string(WireTime.format(millis: $0)) } ?? .null,
             "events_per_minute": .int(Int64(bot.eventsPerMinute)),
             "plugin_states": .array(bot.pluginStates.map { p in
                 ["id": .string(p.id), "state": .string(p.state), "detail": p.detail.map(JSONValue.string) ?? .null]
             }),
             "failures": .array(bot.failures.map { f in
                 ["at": .string(WireTime.format(millis: f.at)), "plugin": .string(f.plugin), "message": .string(f.message)]
             })]
        })])
    }

    /// POST /console/api/bots/reload (operators only): re-reads the configuration file; a file that does not validate
    /// is answered with its located error and changes nothing.
    func reload(_ request: Request) async throws -> Response {
        let (_, session) = try consoleSession(request, change: true)
        guard case .operator = session.principal else {
            throw APIError(.senderNotPermitted, "only an operator may reload the configuration")
        }
        switch await options.reload() {
        case .success: return json(.ok, ["reloaded": true])
        case .failure(let failure):
            var o: [String: JSONValue] = ["reloaded": false, "error": .string(failure.description)]
            if let file = failure.file { o["file"] = .string(file) }
            if let line = failure.line { o["line"] = .int(Int64(line)) }
            if let column = failure.column { o["column"] = .int(Int64(column)) }
            return json(.unprocessableContent, .object(o))
        }
    }

    // MARK: The REST API behind a session

    /// /console/api/apps/{appkey}/rest/...: the REST call `/...` as the app, for a session that manages it.
    func proxy(_ request: Request, _ context: Context) async throws -> Response {
        do {
            let change = request.method != .get && request.method != .head
            let (_, session) = try consoleSession(request, change: change)
            let appKey = try context.pathParameter("appkey")
            guard session.principal.manages(appKey) else { throw Self.notYourApp(appKey) }
            return try await forward(request, context, appKey: appKey, rest: context.parameters.getCatchAll())
        } catch let error as APIError {
            return try secured(error.response(from: request, context: context))
        }
    }

    /// /chat/api/rest/v1/resource: a chat user's upload and download of media, as its app.
    func chatProxy(_ request: Request, _ context: Context) async throws -> Response {
        do {
            let change = request.method != .get && request.method != .head
            let (_, session) = try self.session(request, cookie: Self.chatCookie, change: change)
            guard case .user(let appKey, _) = session.principal else { throw Self.signedOut }
            let rest = context.parameters.getCatchAll()
            guard rest.map(String.init) == ["v1", "resource"], request.method == .get || request.method == .post else {
                throw APIError(.senderNotPermitted, "the chat may only upload and download media")
            }
            return try await forward(request, context, appKey: appKey, rest: rest)
        } catch let error as APIError {
            return try secured(error.response(from: request, context: context))
        }
    }

    func forward(_ request: Request, _ context: Context, appKey: String, rest: [Substring]) async throws -> Response {
        guard let app = hub.app(appKey) else { throw APIError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        var head = request.head
        var path = "/" + rest.joined(separator: "/")
        if let query = request.uri.query, !query.isEmpty { path += "?" + query }
        head.path = path
        head.headerFields[.cookie] = nil
        head.headerFields[.authorization] = "Basic " + Data("\(app.appKey):\(app.masterSecret)".utf8).base64EncodedString()
        let response = try await self.rest.respond(to: Request(head: head, body: request.body), context: context)
        return secured(response)
    }

    // MARK: Chat sign-in

    /// POST /chat/api/session: `{"appkey", "username", "password"}`, checked by the hub as a gateway login is.
    func chatSignIn(_ request: Request) async throws -> Response {
        try checkOrigin(request)
        let r = try JSONObjectReader.body(try await request.jsonBody(limit: 16 << 10))
        let appKey = try r.nonEmptyString("appkey", maxLength: 128)
        let username = try r.nonEmptyString("username", maxLength: 128)
        let password = try r.string("password", maxLength: 128)
        let key = "user:\(appKey):\(username)"
        guard sessions.mayTry(key) else { throw Self.tooManyFailures }
        let user: User
        do {
            user = try await hub.login(appKey: appKey, username: username, password: password)
        } catch {
            if error.code == .authenticationFailed || error.code == .appKeyNotFound { sessions.failed(key) }
            throw APIError(error.code, error.message, status: .unauthorized)
        }
        sessions.succeeded(key)
        let (id, csrf) = sessions.open(.user(appKey: appKey, username: user.username))
        var response = json(.ok, sessionJSON(.user(appKey: appKey, username: user.username), csrf: csrf))
        response.headers[values: .setCookie] = [cookie(Self.chatCookie, id, path: "/chat")]
        return response
    }

    func chatWhoAmI(_ request: Request) throws -> Response {
        guard let session = try? self.session(request, cookie: Self.chatCookie, change: false).1 else {
            return json(.ok, [:])
        }
        return json(.ok, sessionJSON(session.principal, csrf: session.csrf))
    }

    // MARK: Checks

    static var signedOut: APIError { APIError(.missingAuthentication, "not signed in", status: .unauthorized) }
    static var tooManyFailures: APIError {
        APIError(.busy, "too many failed sign-ins; try again later", status: .tooManyRequests)
    }
    static func notYourApp(_ appKey: String) -> APIError {
        APIError(.crossAppNotPermitted, "this session may not manage app \(appKey)")
    }

    func consoleSession(_ request: Request, change: Bool) throws -> (String, ConsoleSessions.Session) {
        let found = try session(request, cookie: Self.consoleCookie, change: change)
        if case .user = found.1.principal { throw Self.signedOut }
        return found
    }

    /// The session of the cookie `name`; for a change, also the same origin and the session's CSRF token.
    func session(_ request: Request, cookie name: String, change: Bool) throws -> (String, ConsoleSessions.Session) {
        guard let id = request.cookies[name]?.value, let session = sessions.session(id) else { throw Self.signedOut }
        if change {
            try checkOrigin(request)
            guard let token = request.headers[HTTPField.Name("X-CSRF-Token")!], ConsoleSessions.same(token, session.csrf)
            else {
                throw APIError(.authenticationFailed, "missing or wrong X-CSRF-Token", status: .forbidden)
            }
        }
        return (id, session)
    }

    /// A browser names the page's origin in `Origin`; a change coming from another one is refused.
    func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        let host = request.head.authority ?? ""
        guard origin == "http://\(host)" || origin == "https://\(host)" else {
            throw APIError(.senderNotPermitted, "cross-origin request refused", status: .forbidden)
        }
    }

    func cookie(_ name: String, _ value: String, path: String) -> String {
        "\(name)=\(value); Path=\(path); HttpOnly; SameSite=Strict; Max-Age=\(options.sessionTTL.components.seconds)"
    }

    func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        secured(JSONResponse.make(status: status, value))
    }

    func secured(_ response: Response) -> Response {
        var response = response
        for field in ConsoleHeaders.page(contentType: "") where field.name != .contentType {
            response.headers[field.name] = field.value
        }
        return response
    }

    /// Runs a console call, answering its errors in the REST API's shape with the console's headers.
    func guarded(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as APIError {
            return secured(JSONResponse.make(status: error.status, ["error": error.json]))
        }
    }
}
