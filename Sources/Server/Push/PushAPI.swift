import Bridge
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import IMProtocol
import NIOCore

/// The JPush v3 API on the daemon: push (`/v3/push`, validate, cid, batch), devices (`/v3/devices`,
/// `/v3/aliases`, `/v3/tags`), reports (`/v3/received`, `/v3/messages`, `/v3/status/message`) and the bridge's
/// alias bindings (`/v3/bridge/bindings`). Basic auth with the pushing AppKey's master secret; every response
/// carries the `X-Rate-Limit-*` headers of the caller's token bucket.
struct PushAPI {
    let hub: Hub
    let bridge: Bridge
    let limiter: RateLimiter

    init(hub: Hub, bridge: Bridge) {
        self.hub = hub
        self.bridge = bridge
        self.limiter = RateLimiter(bridge.configuration.rateLimit, clock: { [hub] in hub.now() })
    }

    /// Which API a route belongs to; it decides the authentication failure's code.
    enum Family {
        case push, device, report

        var authFailure: Int {
            switch self {
            case .push: 1004
            case .device: 7004
            case .report: 3001
            }
        }
    }

    typealias Handler = @Sendable (Request, Parameters, AppSettings) async throws(BridgeError) -> PushReply

    func register<Context: RequestContext>(on router: Router<Context>) {
        func on(_ method: HTTPRequest.Method, _ path: RouterPath, _ family: Family, _ handler: @escaping Handler) {
            router.on(path, method: method) { request, context in
                await run(family, request, context.parameters, handler)
            }
        }
        on(.post, "/v3/push", .push) { request, _, app throws(BridgeError) in try await push(request, app, validate: false) }
        on(.get, "/v3/push", .push) { _, _, _ throws(BridgeError) in throw BridgeError(1001, "only POST is allowed on /v3/push") }
        on(.post, "/v3/push/validate", .push) { request, _, app throws(BridgeError) in try await push(request, app, validate: true) }
        on(.get, "/v3/push/cid", .push) { request, _, app throws(BridgeError) in try cids(request, app) }
        on(.post, "/v3/push/batch/alias/single", .push) { request, _, app throws(BridgeError) in
            try await batch(request, app, audienceKey: "alias")
        }
        on(.post, "/v3/push/batch/regid/single", .push) { request, _, app throws(BridgeError) in
            try await batch(request, app, audienceKey: "registration_id")
        }

        on(.get, "/v3/devices/:rid", .device) { _, p, app throws(BridgeError) in
            let d = try await bridge.device(appKey: app.appKey, registrationID: try Self.parameter(p, "rid"))
            return .json(["tags": .array(d.tags.map(JSONValue.string)), "alias": d.alias.map(JSONValue.string) ?? .null,
                          "mobile": d.mobile.map(JSONValue.string) ?? .null])
        }
        on(.post, "/v3/devices/:rid", .device) { request, p, app throws(BridgeError) in
            let body = try await Self.body(request, family: .device)
            try await bridge.updateDevice(appKey: app.appKey, registrationID: try Self.parameter(p, "rid"), body: body)
            return .empty
        }
        on(.get, "/v3/aliases/:alias", .device) { request, p, app throws(BridgeError) in
            if let platform = request.uri.queryParameters.get("platform") {
                for name in platform.split(separator: ",", omittingEmptySubsequences: false)
                where !PushRequest.platformNames.contains(String(name)) {
                    throw .deviceInvalid("platform: must be a comma-separated list of \(PushRequest.platformNames.joined(separator: ", ")), got '\(platform)'")
                }
            }
            let rids = try await bridge.registrationIDs(appKey: app.appKey, alias: try Self.parameter(p, "alias"))
            return .json(["registration_ids": .array(rids.map(JSONValue.string))])
        }
        on(.delete, "/v3/aliases/:alias", .device) { _, p, app throws(BridgeError) in
            try await bridge.removeAlias(appKey: app.appKey, alias: try Self.parameter(p, "alias"))
            return .empty
        }
        on(.get, "/v3/tags", .device) { _, _, app throws(BridgeError) in
            .json(["tags": .array(try await bridge.tags(appKey: app.appKey).map(JSONValue.string))])
        }
        on(.get, "/v3/tags/:tag/registration_ids/:rid", .device) { _, p, app throws(BridgeError) in
            let has = try await bridge.hasTag(appKey: app.appKey, tag: try Self.parameter(p, "tag"),
                                              registrationID: try Self.parameter(p, "rid"))
            return .json(["result": .bool(has)])
        }
        on(.post, "/v3/tags/:tag", .device) { request, p, app throws(BridgeError) in
            let body = try await Self.body(request, family: .device)
            try await bridge.updateTag(appKey: app.appKey, tag: try Self.parameter(p, "tag"), body: body)
            return .empty
        }
        on(.delete, "/v3/tags/:tag", .device) { _, p, app throws(BridgeError) in
            try await bridge.removeTag(appKey: app.appKey, tag: try Self.parameter(p, "tag"))
            return .empty
        }

        on(.get, "/v3/bridge/bindings", .device) { _, _, app throws(BridgeError) in
            let list = try await bridge.bindings(appKey: app.appKey)
            return .json(["bindings": .array(list.map { ["alias": .string($0.alias), "username": .string($0.username)] })])
        }
        on(.get, "/v3/bridge/bindings/:alias", .device) { _, p, app throws(BridgeError) in
            let alias = try Self.parameter(p, "alias")
            let username = try await bridge.binding(appKey: app.appKey, alias: alias)
            return .json(["alias": .string(alias), "username": .string(username)])
        }
        on(.put, "/v3/bridge/bindings/:alias", .device) { request, p, app throws(BridgeError) in
            let alias = try Self.parameter(p, "alias")
            let body = try await Self.body(request, family: .device)
            let username = try await bridge.setBinding(appKey: app.appKey, alias: alias, body: body)
            return .json(["alias": .string(alias), "username": .string(username)])
        }
        on(.delete, "/v3/bridge/bindings/:alias", .device) { _, p, app throws(BridgeError) in
            try await bridge.removeBinding(appKey: app.appKey, alias: try Self.parameter(p, "alias"))
            return .empty
        }

        on(.get, "/v3/received", .report) { request, _, app throws(BridgeError) in
            try await received(request, app, detail: false)
        }
        on(.get, "/v3/received/detail", .report) { request, _, app throws(BridgeError) in
            try await received(request, app, detail: true)
        }
        on(.get, "/v3/messages", .report) { request, _, app throws(BridgeError) in try await messages(request, app) }
        on(.post, "/v3/status/message", .report) { request, _, app throws(BridgeError) in try await status(request, app) }
    }

    /// Authenticates, takes a token, runs the handler and writes its answer or its error, with the rate-limit
    /// headers on either.
    func run(_ family: Family, _ request: Request, _ parameters: Parameters, _ handler: Handler) async -> Response {
        let app: AppSettings
        var response: Response
        do {
            app = try authenticate(request, family: family)
        } catch {
            response = PushAPIError.response(error)
            addHeaders(limiter.take(""), to: &response)
            return response
        }
        let decision = limiter.take(app.appKey)
        if !decision.allowed {
            response = PushAPIError.response(BridgeError(
                2002, "rate limit of \(decision.limit) requests exceeded; retry in \(decision.reset) s"))
        } else {
            do {
                response = try await handler(request, parameters, app).response()
            } catch {
                response = PushAPIError.response(error)
            }
        }
        addHeaders(decision, to: &response)
        return response
    }

    func addHeaders(_ decision: RateLimiter.Decision, to response: inout Response) {
        response.headers[HTTPField.Name("X-Rate-Limit-Limit")!] = String(decision.limit)
        response.headers[HTTPField.Name("X-Rate-Limit-Remaining")!] = String(decision.remaining)
        response.headers[HTTPField.Name("X-Rate-Limit-Reset")!] = String(decision.reset)
    }

    /// Basic `appKey:masterSecret` of the pushing app.
    func authenticate(_ request: Request, family: Family) throws(BridgeError) -> AppSettings {
        let credentials: BasicCredentials
        switch BasicCredentials.parse(request.headers[.authorization]) {
        case .success(let c): credentials = c
        case .failure(.missing):
            throw BridgeError(family.authFailure, "Authorization header is missing; use Basic appKey:masterSecret")
        case .failure(.malformed):
            throw BridgeError(family.authFailure, "Basic authentication failed")
        }
        do {
            return try hub.authenticateApp(appKey: credentials.user, secret: credentials.password)
        } catch {
            throw BridgeError(family.authFailure, "Basic authentication failed")
        }
    }

    static func invalidCode(_ family: Family) -> Int {
        switch family {
        case .push: 1003
        case .device: 7002
        case .report: 3004
        }
    }

    /// The whole body as JSON; at most 1 MiB.
    static func body(_ request: Request, family: Family) async throws(BridgeError) -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 1 << 20)
        } catch {
            throw BridgeError(family == .push ? 1005 : invalidCode(family), "request body larger than 1 MiB")
        }
        guard buffer.readableBytes > 0 else {
            throw BridgeError(family == .push ? 1002 : invalidCode(family), "request body is empty")
        }
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw BridgeError(invalidCode(family), "request body is not JSON: \(error)")
        }
    }

    /// A percent-decoded path parameter.
    static func parameter(_ parameters: Parameters, _ name: String) throws(BridgeError) -> String {
        guard let raw = parameters.get(name), let decoded = raw.removingPercentEncoding else {
            throw .deviceInvalid("\(name): malformed in the path")
        }
        return decoded
    }

    // MARK: Push

    func push(_ request: Request, _ app: AppSettings, validate: Bool) async throws(BridgeError) -> PushReply {
        let body = try await Self.body(request, family: .push)
        let push = try PushRequest(json: body)
        let accepted = try await bridge.push(push, appKey: app.appKey, validateOnly: validate)
        return .json(["sendno": .string(accepted.sendno), "msg_id": .string(String(accepted.msgID))])
    }

    func cids(_ request: Request, _ app: AppSettings) throws(BridgeError) -> PushReply {
        let query = request.uri.queryParameters
        var count = 1
        if let text = query.get("count") {
            guard let n = Int(text), (1...1000).contains(n) else {
                throw .invalid("count", "expected 1 to 1000, got '\(text)'")
            }
            count = n
        }
        if let type = query.get("type"), type != "push", type != "schedule" {
            throw .invalid("type", "must be push or schedule, got '\(type)'")
        }
        let list = (0..<count).map { _ in JSONValue.string("\(app.appKey)-\(UUID().uuidString.lowercased())") }
        return .json(["cidlist": .array(list)])
    }

    func batch(_ request: Request, _ app: AppSettings, audienceKey: String) async throws(BridgeError) -> PushReply {
        let body = try await Self.body(request, family: .push)
        guard case .object(let o) = body else { throw .invalid("", "expected a JSON object, got \(body.typeName)") }
        for key in o.keys where key != "pushlist" { throw .unsupported(key, "unknown key; use pushlist") }
        guard let pushlist = o["pushlist"], pushlist != .null else { throw .missing("pushlist") }
        guard case .object(let items) = pushlist else { throw .invalid("pushlist", "expected an object keyed by cid") }
        guard (1...1000).contains(items.count) else {
            throw .invalid("pushlist", "expected 1 to 1000 pushes, got \(items.count)")
        }
        var results: [String: JSONValue] = [:]
        for cid in items.keys.sorted() {
            do throws(BridgeError) {
                guard case .object(var item) = items[cid]! else {
                    throw BridgeError.invalid("pushlist.\(cid)", "expected an object")
                }
                guard case .string(let target)? = item.removeValue(forKey: "target") else {
                    throw BridgeError.missing("pushlist.\(cid).target")
                }
                item["audience"] = [audienceKey: [.string(target)]]
                item["cid"] = .string(cid)
                let accepted = try await bridge.push(try PushRequest(json: .object(item)), appKey: app.appKey)
                results[cid] = ["msg_id": .string(String(accepted.msgID))]
            } catch {
                results[cid] = ["error": PushAPIError.json(error)]
            }
        }
        return .json(.object(results))
    }

    // MARK: Reports

    static func msgIDs(_ request: Request) throws(BridgeError) -> [Int64] {
        guard let text = request.uri.queryParameters.get("msg_ids"), !text.isEmpty else {
            throw .reportInvalid("msg_ids: required, a comma-separated list of up to 100 msg_id")
        }
        var ids: [Int64] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = Int64(part.trimmingCharacters(in: .whitespaces)), id > 0 else {
                throw .reportInvalid("msg_ids: '\(part)' is not a msg_id")
            }
            if !ids.contains(id) { ids.append(id) }
        }
        guard ids.count <= 100 else { throw .reportInvalid("msg_ids: at most 100, got \(ids.count)") }
        return ids
    }

    func received(_ request: Request, _ app: AppSettings, detail: Bool) async throws(BridgeError) -> PushReply {
        let counts = try await bridge.counts(appKey: app.appKey, msgIDs: try Self.msgIDs(request))
        return .json(.array(counts.map { id, c in
            var o: [String: JSONValue] = [
                "msg_id": .int(id), "android_received": c.map { .int(Int64($0.received)) } ?? .null,
                "ios_apns_sent": .null, "ios_apns_received": .null, "ios_msg_received": .null, "wp_mpns_sent": .null,
            ]
            if detail {
                o["jpush_received"] = c.map { .int(Int64($0.received)) } ?? .null
                o["quickapp_jpush_received"] = .null
                o["quickapp_android_received"] = .null
            }
            return .object(o)
        }))
    }

    func messages(_ request: Request, _ app: AppSettings) async throws(BridgeError) -> PushReply {
        let counts = try await bridge.counts(appKey: app.appKey, msgIDs: try Self.msgIDs(request))
        return .json(.array(counts.map { id, c in
            func n(_ value: Int?) -> JSONValue { value.map { .int(Int64($0)) } ?? .null }
            var o: [String: JSONValue] = [
                "msg_id": .int(id),
                "android": ["received": n(c?.received), "target": n(c?.target), "online_push": n(c?.delivered),
                            "click": .null, "msg_click": .null],
                "ios": ["apns_sent": .null, "apns_target": .null, "apns_received": .null, "click": .null,
                        "target": .null, "received": .null, "msg_received": .null],
            ]
            if let c {
                o["bridge"] = ["target": n(c.target), "delivered": n(c.delivered), "received": n(c.received),
                               "expired": n(c.expired), "failed": n(c.failed), "pending": n(c.pending),
                               "escalations": n(c.escalations)]
            }
            return .object(o)
        }))
    }

    func status(_ request: Request, _ app: AppSettings) async throws(BridgeError) -> PushReply {
        let body = try await Self.body(request, family: .report)
        guard case .object(let o) = body else { throw .reportInvalid("body: expected an object, got \(body.typeName)") }
        guard let msgID = o["msg_id"]?.intValue ?? o["msg_id"]?.stringValue.flatMap({ Int64($0) }), msgID > 0 else {
            throw .reportInvalid("msg_id: required, a msg_id")
        }
        guard case .array(let items)? = o["registration_ids"], (1...1000).contains(items.count) else {
            throw .reportInvalid("registration_ids: required, a list of 1 to 1000 registration ids")
        }
        var rids: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let rid) = item, !rid.isEmpty, rid.utf8.count <= 128 else {
                throw .reportInvalid("registration_ids[\(i)]: expected a registration id, got \(item.serializedString())")
            }
            rids.append(rid)
        }
        if let date = o["date"], date != .null, date.stringValue == nil {
            throw .reportInvalid("date: expected a string yyyy-MM-dd")
        }
        let statuses = try await bridge.status(appKey: app.appKey, msgID: msgID, registrationIDs: rids)
        return .json(.object(statuses.mapValues { ["status": .int(Int64($0))] }))
    }
}
