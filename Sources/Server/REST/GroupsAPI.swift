import Hub
import Hummingbird
import IMProtocol

/// `/v1/groups`: creating, reading, changing and deleting groups and their members, in-app and cross-app.
struct GroupsAPI {
    let hub: Hub

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/groups", use: create)
        router.get("/v1/groups", use: list)
        router.get("/v1/groups/:gid", use: get)
        router.put("/v1/groups/:gid", use: update)
        router.delete("/v1/groups/:gid", use: delete)
        router.post("/v1/groups/:gid/members", use: changeMembers)
        router.get("/v1/groups/:gid/members", use: members)
        router.post("/v2/groups/:gid/addMembers", use: addMembers)
        router.post("/v2/groups/:gid/delMembers", use: delMembers)
        router.put("/v1/groups/messages/:gid/silence", use: silence)
        router.put("/v1/groups/owner/:gid", use: transferOwner)
        router.post("/v1/cross/groups/:gid/members", use: crossChangeMembers)
        router.get("/v1/cross/groups/:gid/members", use: crossMembers)
    }

    /// A group as GET /v1/groups/{gid} shows it.
    static func json(_ g: Group) -> JSONValue {
        var o: [String: JSONValue] = [
            "gid": .int(g.gid), "name": .string(g.name), "desc": .string(g.desc ?? ""), "appkey": .string(g.appKey),
            "owner_username": .string(g.ownerUsername), "MaxMemberCount": .int(Int64(g.maxMemberCount)),
            "flag": .int(Int64(g.flag)),
            "ctime": .string(WireTime.format(millis: g.ctime)), "mtime": .string(WireTime.format(millis: g.mtime)),
        ]
        if let avatar = g.avatar { o["avatar"] = .string(avatar) }
        return .object(o)
    }

    /// POST /v1/groups/: `{"owner_username","name","members_username":[],"avatar","desc","flag"}` → 201.
    @Sendable func create(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let new = NewGroup(owner: try r.nonEmptyString("owner_username"), name: try r.nonEmptyString("name"),
                           members: try Lists.strings(r, "members_username"), desc: try r.optionalString("desc"),
                           avatar: try r.optionalString("avatar"), flag: Int(try r.optionalInt("flag") ?? 1))
        let group = try await hub.createGroup(appKey: app.appKey, new)
        var body = Self.json(group)
        if case .object(var o) = body {
            o["members_username"] = .array(new.members.filter { $0 != new.owner }.map { .string($0) })
            body = .object(o)
        }
        return JSONResponse.make(status: .created, body)
    }

    /// GET /v1/groups/{gid}.
    @Sendable func get(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let group = try await hub.group(appKey: app.appKey, gid: gid)
        return JSONResponse.make(status: .ok, Self.json(group))
    }

    /// PUT /v1/groups/{gid}: `{"name","desc","avatar"}`, each optional.
    @Sendable func update(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let (name, desc, avatar) = (try r.optionalString("name"), try r.optionalString("desc"), try r.optionalString("avatar"))
        guard name != nil || desc != nil || avatar != nil else {
            throw APIError(.invalidParameter, "body: give at least one of name, desc, avatar")
        }
        try await hub.updateGroup(appKey: app.appKey, gid: gid, name: name, desc: desc, avatar: avatar)
        return JSONResponse.empty()
    }

    /// DELETE /v1/groups/{gid}.
    @Sendable func delete(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        try await hub.deleteGroup(appKey: app.appKey, gid: gid)
        return JSONResponse.empty()
    }

    /// POST /v1/groups/{gid}/members: `{"add":[],"remove":[]}`, applied atomically.
    @Sendable func changeMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let add = try Lists.strings(r, "add"), remove = try Lists.strings(r, "remove")
        guard !add.isEmpty || !remove.isEmpty else { throw APIError(.invalidParameter, "body: add and remove are both empty") }
        try await hub.changeMembers(appKey: app.appKey, gid: gid, add: add, remove: remove)
        return JSONResponse.empty()
    }

    /// POST /v2/groups/{gid}/addMembers: `["u1", ...]`.
    @Sendable func addMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.changeMembers(appKey: app.appKey, gid: gid, add: names, remove: [])
        return JSONResponse.empty()
    }

    /// POST /v2/groups/{gid}/delMembers: `["u1", ...]`.
    @Sendable func delMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.changeMembers(appKey: app.appKey, gid: gid, add: [], remove: names)
        return JSONResponse.empty()
    }

    static func memberJSON(_ m: GroupMember, withAppKey: Bool) -> JSONValue {
        var o: [String: JSONValue] = ["username": .string(m.user.username), "flag": .int(m.isOwner ? 1 : 0),
                                      "silenced": .bool(m.silenced)]
        if let nickname = m.user.profile.nickname { o["nickname"] = .string(nickname) }
        if let avatar = m.user.profile.avatar { o["avatar"] = .string(avatar) }
        o["ctime"] = .string(WireTime.format(millis: m.user.ctime))
        o["mtime"] = .string(WireTime.format(millis: m.user.mtime))
        if withAppKey { o["appkey"] = .string(m.user.appKey) }
        return .object(o)
    }

    /// GET /v1/groups/{gid}/members/: owner (flag 1) first, then members (flag 0).
    @Sendable func members(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let members = try await hub.members(appKey: app.appKey, gid: gid)
        return JSONResponse.make(status: .ok, .array(members.map { Self.memberJSON($0, withAppKey: false) }))
    }

    /// GET /v1/cross/groups/{gid}/members/: like members, each with its appkey.
    @Sendable func crossMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let members = try await hub.members(appKey: app.appKey, gid: gid)
        return JSONResponse.make(status: .ok, .array(members.map { Self.memberJSON($0, withAppKey: true) }))
    }

    /// POST /v1/cross/groups/{gid}/members: `[{"appkey","add":[],"remove":[]}]`, applied atomically.
    @Sendable func crossChangeMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        guard case .array(let items) = try await request.jsonBody(), !items.isEmpty else {
            throw APIError(.invalidParameter, "body: expected a non-empty array of {appkey, add, remove}")
        }
        let changes = try items.enumerated().map { i, item in
            let r = try JSONObjectReader.body(item, path: "[\(i)]")
            guard let appKey = try Lists.appKey(r) else { throw APIError(.invalidParameter, "[\(i)].appkey: required") }
            return (appKey: appKey, add: try Lists.strings(r, "add"), remove: try Lists.strings(r, "remove"))
        }
        try await hub.changeMembers(appKey: app.appKey, gid: gid, changes: changes)
        return JSONResponse.empty()
    }

    /// GET /v1/groups/?start=&count=.
    @Sendable func list(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let (start, count) = try Lists.page(request)
        let page = try await hub.listGroups(appKey: app.appKey, start: start, count: count)
        return JSONResponse.make(status: .ok, [
            "total": .int(Int64(page.total)), "start": .int(Int64(start)), "count": .int(Int64(page.items.count)),
            "groups": .array(page.items.map(Self.json)),
        ])
    }

    /// PUT /v1/groups/messages/{gid}/silence?status=true|false with `["u1", ...]`.
    @Sendable func silence(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let status = try Lists.flag(request, "status")
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.silence(appKey: app.appKey, gid: gid, usernames: names, status)
        return JSONResponse.empty()
    }

    /// PUT /v1/groups/owner/{gid} with `{"username", "appkey"}` (`appKey` from the Java SDK).
    @Sendable func transferOwner(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let gid = try Lists.id(context, "gid")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let username = try r.nonEmptyString("username")
        let ownerAppKey = try Lists.appKey(r)
        try await hub.transferOwner(appKey: app.appKey, gid: gid, to: username, ownerAppKey: ownerAppKey)
        return JSONResponse.empty()
    }
}
