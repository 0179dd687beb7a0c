import Hub
import Hummingbird
import IMProtocol

/// `/v1/chatroom`: online-only rooms, their members and who may speak.
struct ChatroomsAPI {
    let hub: Hub

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/chatroom", use: create)
        router.post("/v1/chatroom/batch", use: batch)
        router.get("/v1/chatroom", use: list)
        router.put("/v1/chatroom/:id", use: update)
        router.delete("/v1/chatroom/:id", use: delete)
        router.put("/v1/chatroom/:id/forbidden/:username", use: forbid)
        router.get("/v1/chatroom/:id/members", use: members)
        router.put("/v1/chatroom/:id/members", use: addMembers)
        router.delete("/v1/chatroom/:id/members", use: removeMembers)
    }

    static func json(_ room: Chatroom) -> JSONValue {
        [
            "id": .int(room.roomID), "name": .string(room.name), "description": .string(room.description ?? ""),
            "owner_username": .string(room.ownerUsername), "appkey": .string(room.appKey),
            "total_member_count": .int(Int64(room.memberCount)), "ctime": .string(WireTime.format(millis: room.ctime)),
        ]
    }

    /// POST /v1/chatroom/: `{"owner_username","name","description","members_username"}` → 201 `{"chatroom_id"}`.
    @Sendable func create(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let (owner, name, description) = (try r.nonEmptyString("owner_username"), try r.nonEmptyString("name"), try r.optionalString("description"))
        let members = try Lists.strings(r, "members_username")
        let room = try await hub.createRoom(appKey: app.appKey, owner: owner, name: name, description: description, members: members)
        return JSONResponse.make(status: .created, ["chatroom_id": .int(room.roomID)])
    }

    /// POST /v1/chatroom/batch: `[id, ...]` → the rooms that exist.
    @Sendable func batch(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let ids = try Lists.ids(try await request.jsonBody(), path: "body", max: 500, allowEmpty: false)
        let rooms = try await hub.rooms(appKey: app.appKey, ids: ids)
        return JSONResponse.make(status: .ok, .array(rooms.map(Self.json)))
    }

    /// GET /v1/chatroom?start=&count=.
    @Sendable func list(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let (start, count) = try Lists.page(request)
        let page = try await hub.listRooms(appKey: app.appKey, start: start, count: count)
        return JSONResponse.make(status: .ok, [
            "total": .int(Int64(page.total)), "start": .int(Int64(start)), "count": .int(Int64(page.items.count)),
            "rooms": .array(page.items.map(Self.json)),
        ])
    }

    /// PUT /v1/chatroom/{id}: `{"owner_username","name","description"}`, each optional.
    @Sendable func update(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let (owner, name, description) = (try r.optionalNonEmptyString("owner_username"), try r.optionalString("name"), try r.optionalString("description"))
        try await hub.updateRoom(appKey: app.appKey, id: id, owner: owner, name: name, description: description)
        return JSONResponse.empty()
    }

    /// DELETE /v1/chatroom/{id}.
    @Sendable func delete(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        try await hub.deleteRoom(appKey: app.appKey, id: id)
        return JSONResponse.empty()
    }

    /// PUT /v1/chatroom/{id}/forbidden/{username}?status=1|0: silences a member or lets it speak.
    @Sendable func forbid(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        let username = try context.pathParameter("username")
        let status = try Lists.flag(request, "status")
        try await hub.silenceInRoom(appKey: app.appKey, id: id, username: username, status)
        return JSONResponse.empty()
    }

    /// GET /v1/chatroom/{id}/members?start=&count=.
    @Sendable func members(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        let (start, count) = try Lists.page(request)
        let page = try await hub.roomMembers(appKey: app.appKey, id: id, start: start, count: count)
        return JSONResponse.make(status: .ok, [
            "total": .int(Int64(page.total)), "start": .int(Int64(start)), "count": .int(Int64(page.items.count)),
            "users": .array(page.items.map { GroupsAPI.memberJSON($0, withAppKey: false) }),
        ])
    }

    /// PUT /v1/chatroom/{id}/members: `["u1", ...]`.
    @Sendable func addMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.addRoomMembers(appKey: app.appKey, id: id, usernames: names)
        return JSONResponse.empty()
    }

    /// DELETE /v1/chatroom/{id}/members: `["u1", ...]`.
    @Sendable func removeMembers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let id = try Lists.id(context, "id")
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.removeRoomMembers(appKey: app.appKey, id: id, usernames: names)
        return JSONResponse.empty()
    }
}

/// `/v1/sensitiveword`: the app's list of masked words and the filter's switch.
struct SensitiveWordsAPI {
    let hub: Hub

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/sensitiveword", use: add)
        router.put("/v1/sensitiveword", use: replace)
        router.delete("/v1/sensitiveword", use: delete)
        router.get("/v1/sensitiveword", use: list)
        router.put("/v1/sensitiveword/status", use: setStatus)
        router.get("/v1/sensitiveword/status", use: getStatus)
    }

    /// POST: `["word", ...]` (at most 100 per call).
    @Sendable func add(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let words = try Lists.strings(try await request.jsonBody(), max: 100)
        try await hub.addSensitiveWords(appKey: app.appKey, words)
        return JSONResponse.empty(status: .created)
    }

    /// PUT: `{"new_word","old_word"}`.
    @Sendable func replace(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let (new, old) = (try r.nonEmptyString("new_word"), try r.nonEmptyString("old_word"))
        try await hub.replaceSensitiveWord(appKey: app.appKey, old: old, new: new)
        return JSONResponse.empty()
    }

    /// DELETE: `{"word"}`.
    @Sendable func delete(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let word = try r.nonEmptyString("word")
        try await hub.deleteSensitiveWord(appKey: app.appKey, word)
        return JSONResponse.empty()
    }

    /// GET ?start=&count= (count at most 2000).
    @Sendable func list(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let (start, count) = try Lists.page(request, maxCount: 2000)
        let page = try await hub.sensitiveWords(appKey: app.appKey, start: start, count: count)
        return JSONResponse.make(status: .ok, [
            "total": .int(Int64(page.total)), "start": .int(Int64(start)), "count": .int(Int64(page.items.count)),
            "words": .array(page.items.map { ["word": .string($0)] }),
        ])
    }

    /// PUT /status?status=1|0.
    @Sendable func setStatus(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let on = try Lists.flag(request, "status")
        try await hub.setSensitiveFilter(appKey: app.appKey, on)
        return JSONResponse.empty()
    }

    /// GET /status → `{"status": 0|1}`.
    @Sendable func getStatus(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let filter = try await hub.sensitiveFilter(appKey: app.appKey)
        return JSONResponse.make(status: .ok, ["status": .int(filter?.isOn == true ? 1 : 0)])
    }
}
