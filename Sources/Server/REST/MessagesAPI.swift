import Foundation
import Hub
import Hummingbird
import IMProtocol

/// `POST /v1/messages` (an admin sends) and the history API v2 (`/v2/messages`, `/v2/users/{username}/messages`).
struct MessagesAPI {
    let hub: Hub

    /// How long a history cursor stays valid, as in JMessage.
    static let cursorLifetimeMillis: Int64 = 120_000
    /// Largest page of history.
    static let maxCount = 1000
    /// Widest time range of one history query.
    static let maxRangeMillis: Int64 = 7 * 24 * 3600 * 1000

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/messages", use: send)
        router.get("/v2/messages", use: appHistory)
        router.get("/v2/users/:username/messages", use: userHistory)
        router.get("/v2/groups/:gid/messages", use: groupHistory)
        router.get("/v2/chatrooms/:id/messages", use: roomHistory)
        router.post("/v1/messages/:username/:msgid/retract", use: retract)
    }

    /// POST /v1/messages: validates the protocol fields, checks that `from_id` is an admin of the app, stores.
    @Sendable func send(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let draft: ClientFrame.Send
        let fromType: FromType
        let fromID: String
        let noNotification: Bool
        do {
            let version = try r.int("version")
            guard version == 1 else { throw ProtocolError(path: "version", reason: "unsupported version \(version), expected 1") }
            fromType = try r.enumValue("from_type", FromType.self)
            fromID = try r.nonEmptyString("from_id")
            let type = try r.enumValue("msg_type", MessageType.self)
            draft = ClientFrame.Send(
                targetType: try r.enumValue("target_type", TargetType.self), targetID: try r.nonEmptyString("target_id"),
                targetAppKey: try r.optionalString("target_appkey"), targetName: try r.optionalString("target_name"),
                fromName: try r.optionalString("from_name"),
                body: try MessageBody(type: type, json: try r.required("msg_body"), path: "msg_body"),
                noOffline: try r.optionalBool("no_offline") ?? false)
            noNotification = try r.optionalBool("no_notification") ?? false
            if let n = try r.optionalObject("notification") {
                let nr = try JSONObjectReader(.object(n), path: "notification")
                _ = try nr.optionalString("title")
                _ = try nr.optionalString("alert")
            }
        } catch let e as ProtocolError {
            throw APIError.invalid(e)
        }
        guard fromType == .admin else {
            throw APIError(.senderNotPermitted, "from_type: the REST API sends as 'admin' only, got '\(fromType.rawValue)'")
        }
        let sender = try await hub.user(appKey: app.appKey, username: fromID)
        guard sender.kind == .admin else {
            throw APIError(.senderNotPermitted, "from_id: '\(fromID)' is not an admin of app \(app.appKey)")
        }
        let stored = try await hub.send(draft, from: sender, platform: "api", noNotification: noNotification)
        return JSONResponse.make(status: .created, ["msg_id": .int(stored.msgID), "msg_ctime": .int(stored.msgCtime)])
    }

    /// GET /v2/messages: the app's messages in a time range.
    @Sendable func appHistory(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        return try await history(request, appKey: app.appKey, username: nil)
    }

    /// GET /v2/users/{username}/messages: messages sent or received by one user.
    @Sendable func userHistory(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        _ = try await hub.user(appKey: app.appKey, username: username)
        return try await history(request, appKey: app.appKey, username: username)
    }

    /// GET /v2/groups/{gid}/messages: the messages of one group.
    @Sendable func groupHistory(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        _ = try await hub.group(appKey: app.appKey, gid: gid)
        return try await history(request, appKey: app.appKey, username: nil, conversation: (.group, String(gid)))
    }

    /// GET /v2/chatrooms/{id}/messages: the messages of one chatroom.
    @Sendable func roomHistory(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        _ = try await hub.room(appKey: app.appKey, id: id)
        return try await history(request, appKey: app.appKey, username: nil, conversation: (.chatroom, String(id)))
    }

    /// POST /v1/messages/{username}/{msgid}/retract: 204 within 3 minutes of sending; 855001-855004 otherwise.
    @Sendable func retract(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let msgID = try Lists.id(context, "msgid")
        try await hub.retract(appKey: app.appKey, username: username, msgID: msgID)
        return JSONResponse.empty()
    }

    func history(_ request: Request, appKey: String, username: String?,
                 conversation: (type: TargetType, id: String)? = nil) async throws -> Response {
        let params = request.uri.queryParameters
        var query: HistoryQuery
        if let cursor = params["cursor"], !cursor.isEmpty {
            query = try HistoryCursor.decode(String(cursor), appKey: appKey, username: username, conversation: conversation,
                                             now: Hub.nowMillis(),
                                             maxCount: Self.maxCount, maxRange: Self.maxRangeMillis,
                                             maxLifetime: Self.cursorLifetimeMillis)
        } else {
            guard let countText = params["count"] else { throw APIError(.invalidParameter, "count: required") }
            guard let count = Int(countText), (1...Self.maxCount).contains(count) else {
                throw APIError(.invalidParameter, "count: must be an integer from 1 to \(Self.maxCount)")
            }
            guard let beginText = params["begin_time"] else { throw APIError(.invalidParameter, "begin_time: required") }
            guard let endText = params["end_time"] else { throw APIError(.invalidParameter, "end_time: required") }
            guard let begin = WireTime.parse(String(beginText)) else {
                throw APIError(.invalidParameter, "begin_time: expected yyyy-MM-dd HH:mm:ss")
            }
            guard let end = WireTime.parse(String(endText)) else {
                throw APIError(.invalidParameter, "end_time: expected yyyy-MM-dd HH:mm:ss")
            }
            guard end >= begin else { throw APIError(.invalidParameter, "end_time: earlier than begin_time") }
            guard end - begin <= Self.maxRangeMillis else {
                throw APIError(.invalidParameter, "end_time: at most 7 days after begin_time")
            }
            // The range is inclusive to the second.
            query = HistoryQuery(appKey: appKey, username: username, conversation: conversation, beginTime: begin,
                                 endTime: end + 999, count: count)
        }
        let page = try await hub.history(query)
        var body: [String: JSONValue] = [
            "total": .int(Int64(page.total)),
            "count": .int(Int64(page.messages.count)),
            "messages": .array(page.messages.map { $0.historyJSON(appKey: appKey) }),
        ]
        if page.messages.count == query.count, let last = page.messages.last {
            query.afterMsgID = last.msgID
            body["cursor"] = .string(HistoryCursor.encode(query, expires: Hub.nowMillis() + Self.cursorLifetimeMillis))
        }
        return JSONResponse.make(status: .ok, .object(body))
    }
}

/// The opaque `cursor` of the history API: the query, where the last page ended, and when it expires.
enum HistoryCursor {
    static func encode(_ q: HistoryQuery, expires: Int64) -> String {
        var o: [String: JSONValue] = [
            "k": .string(q.appKey), "b": .int(q.beginTime), "e": .int(q.endTime), "c": .int(Int64(q.count)),
            "a": .int(q.afterMsgID), "x": .int(expires),
        ]
        if let u = q.username { o["u"] = .string(u) }
        if let c = q.conversation { o["t"] = .string(c.type.rawValue); o["g"] = .string(c.id) }
        return Data(JSONValue.object(o).serialized()).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads a cursor back; a cursor is not signed, so every limit of a first request is checked again.
    static func decode(_ text: String, appKey: String, username: String?, conversation: (type: TargetType, id: String)?,
                       now: Int64, maxCount: Int, maxRange: Int64,
                       maxLifetime: Int64) throws -> HistoryQuery {
        let invalid = APIError(.invalidParameter, "cursor: not a cursor from this API")
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let json = try? JSONValue.parse(data),
              let k = json["k"]?.stringValue, let b = json["b"]?.intValue, let e = json["e"]?.intValue,
              let c = json["c"]?.intValue, let a = json["a"]?.intValue, let x = json["x"]?.intValue
        else { throw invalid }
        guard k == appKey, json["u"]?.stringValue == username, json["t"]?.stringValue == conversation?.type.rawValue,
              json["g"]?.stringValue == conversation?.id, (1...Int64(maxCount)).contains(c), a >= 0,
              e >= b, e - b < maxRange + 1000, x <= now + maxLifetime
        else { throw invalid }
        guard x >= now else { throw APIError(.invalidParameter, "cursor: expired (a cursor is valid for 120 s)") }
        return HistoryQuery(appKey: k, username: username, conversation: conversation, beginTime: b, endTime: e,
                            count: Int(c), afterMsgID: a)
    }
}
