import Hub
import Hummingbird
import IMProtocol

/// Managing accounts: update, delete, list, password, forbidden, and a user's groups.
struct AccountsAPI {
    let hub: Hub

    func register(on router: Router<some RequestContext>) {
        router.put("/v1/users/:username", use: updateUser)
        router.delete("/v1/users/:username", use: deleteUser)
        router.delete("/v1/users", use: deleteUsers)
        router.get("/v1/users", use: listUsers)
        router.get("/v1/admins", use: listAdmins)
        router.put("/v1/users/:username/password", use: changePassword)
        router.put("/v1/users/:username/forbidden", use: forbid)
        router.get("/v1/users/:username/groups", use: userGroups)
        router.get("/v1/cross/users/:username/groups", use: userGroups)
    }

    /// PUT /v1/users/{username}: changes the profile fields present in the body.
    @Sendable func updateUser(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        if r.object["username"] != nil || r.object["password"] != nil {
            throw APIError(.invalidParameter, "body: username and password cannot be changed here")
        }
        let patch = try UsersAPI.profile(r)
        _ = try await hub.updateUser(appKey: app.appKey, username: username, patch: patch)
        // 204 without a body, as JMessage answers; GET /v1/users/{username} reads the result.
        return JSONResponse.empty()
    }

    /// DELETE /v1/users/{username}.
    @Sendable func deleteUser(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        try await hub.deleteUsers(appKey: app.appKey, usernames: [username])
        return JSONResponse.empty()
    }

    /// DELETE /v1/users/ with `["u1", ...]` (at most 100): all exist or nothing is deleted.
    @Sendable func deleteUsers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let names = try Lists.strings(try await request.jsonBody(), max: 100)
        try await hub.deleteUsers(appKey: app.appKey, usernames: names)
        return JSONResponse.empty()
    }

    /// GET /v1/users/?start=&count=: the app's users (and robots), by registration order.
    @Sendable func listUsers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        return try await list(request, appKey: app.appKey, kinds: [.user, .robot])
    }

    /// GET /v1/admins?start=&count=.
    @Sendable func listAdmins(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        return try await list(request, appKey: app.appKey, kinds: [.admin])
    }

    func list(_ request: Request, appKey: String, kinds: [FromType]) async throws -> Response {
        let (start, count) = try Lists.page(request)
        let page = try await hub.listUsers(appKey: appKey, kinds: kinds, start: start, count: count)
        return JSONResponse.make(status: .ok, [
            "total": .int(Int64(page.total)), "start": .int(Int64(start)), "count": .int(Int64(page.items.count)),
            "users": .array(page.items.map(UsersAPI.json)),
        ])
    }

    /// PUT /v1/users/{username}/password with `{"new_password": "..."}`.
    @Sendable func changePassword(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let password = try r.string("new_password")
        try await hub.changePassword(appKey: app.appKey, username: username, to: password)
        return JSONResponse.empty()
    }

    /// PUT /v1/users/{username}/forbidden?disable=true|false.
    @Sendable func forbid(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let disable = try Lists.flag(request, "disable")
        try await hub.setForbidden(appKey: app.appKey, username: username, disable)
        return JSONResponse.empty()
    }

    /// GET /v1/users/{username}/groups/: the groups the user is a member of.
    @Sendable func userGroups(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let user = try await hub.user(appKey: app.appKey, username: username)
        let groups = try await hub.groups(of: user)
        return JSONResponse.make(status: .ok, .array(groups.map(GroupsAPI.json)))
    }
}

/// Relations of a user: friends, blacklist, no-disturb and group shields, in-app and cross-app.
struct RelationsAPI {
    let hub: Hub

    func register(on router: Router<some RequestContext>) {
        router.put("/v1/users/:username/blacklist", use: blacklistAdd)
        router.delete("/v1/users/:username/blacklist", use: blacklistRemove)
        router.get("/v1/users/:username/blacklist", use: blacklistGet)
        router.post("/v1/users/:username/nodisturb", use: noDisturb)
        router.post("/v1/users/:username/groupsShield", use: groupsShield)
        router.post("/v1/users/:username/friends", use: friendsAdd)
        router.delete("/v1/users/:username/friends", use: friendsRemove)
        router.put("/v1/users/:username/friends", use: friendsUpdate)
        router.get("/v1/users/:username/friends", use: friendsGet)
        router.put("/v1/cross/users/:username/blacklist", use: crossBlacklistAdd)
        router.delete("/v1/cross/users/:username/blacklist", use: crossBlacklistRemove)
        router.get("/v1/cross/users/:username/blacklist", use: blacklistGet)
        router.post("/v1/cross/users/:username/nodisturb", use: crossNoDisturb)
        router.post("/v1/cross/users/:username/friends", use: crossFriendsAdd)
        router.delete("/v1/cross/users/:username/friends", use: crossFriendsRemove)
    }

    func owner(_ request: Request, _ context: some RequestContext) async throws -> User {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        return try await hub.user(appKey: app.appKey, username: username)
    }

    @Sendable func blacklistAdd(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.addToBlacklist(user, usernames: names)
        return JSONResponse.empty()
    }

    @Sendable func blacklistRemove(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.removeFromBlacklist(user, usernames: names)
        return JSONResponse.empty()
    }

    @Sendable func blacklistGet(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let list = try await hub.blacklist(of: user)
        return JSONResponse.make(status: .ok, .array(list.map { Self.withAppKey(UsersAPI.json($0), $0.appKey) }))
    }

    /// `[{"appkey": "...", "usernames": [...]}]` of the cross-app blacklist calls.
    func crossLists(_ body: JSONValue, key: String) throws -> [(appKey: String, names: [String])] {
        guard case .array(let items) = body, !items.isEmpty else {
            throw APIError(.invalidParameter, "body: expected a non-empty array of {appkey, \(key)}")
        }
        return try items.enumerated().map { i, item in
            let r = try JSONObjectReader.body(item, path: "[\(i)]")
            guard let appKey = try Lists.appKey(r) else { throw APIError(.invalidParameter, "[\(i)].appkey: required") }
            return (appKey, try Lists.strings(r, key))
        }
    }

    @Sendable func crossBlacklistAdd(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        for part in try crossLists(try await request.jsonBody(), key: "usernames") where !part.names.isEmpty {
            try await hub.addToBlacklist(user, usernames: part.names, appKey: part.appKey)
        }
        return JSONResponse.empty()
    }

    @Sendable func crossBlacklistRemove(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        for part in try crossLists(try await request.jsonBody(), key: "usernames") where !part.names.isEmpty {
            try await hub.removeFromBlacklist(user, usernames: part.names, appKey: part.appKey)
        }
        return JSONResponse.empty()
    }

    /// Reads `{"single":{"add":[],"remove":[]},"group":{"add":[],"remove":[]},"global":0|1}`.
    static func noDisturbChange(_ r: JSONObjectReader, appKey: String?) throws -> Hub.NoDisturbChange {
        var change = Hub.NoDisturbChange(appKey: appKey)
        if let single = try r.optionalObject("single") {
            let s = try JSONObjectReader.body(.object(single), path: r.fieldPath("single"))
            change.addSingles = try Lists.strings(s, "add")
            change.removeSingles = try Lists.strings(s, "remove")
        }
        if let group = try r.optionalObject("group") {
            let g = try JSONObjectReader.body(.object(group), path: r.fieldPath("group"))
            change.addGroups = try Lists.ids(g, "add")
            change.removeGroups = try Lists.ids(g, "remove")
        }
        if let global = try r.optionalInt("global") {
            guard global == 0 || global == 1 else { throw APIError(.invalidParameter, "global: must be 0 or 1") }
            change.global = global == 1
        }
        return change
    }

    @Sendable func noDisturb(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let change = try Self.noDisturbChange(r, appKey: nil)
        try await hub.changeNoDisturb(user, change)
        return JSONResponse.empty()
    }

    @Sendable func crossNoDisturb(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        guard case .array(let items) = try await request.jsonBody(), !items.isEmpty else {
            throw APIError(.invalidParameter, "body: expected a non-empty array of {appkey, single, group}")
        }
        var changes: [Hub.NoDisturbChange] = []
        for (i, item) in items.enumerated() {
            let r = try JSONObjectReader.body(item, path: "[\(i)]")
            guard let appKey = try Lists.appKey(r) else { throw APIError(.invalidParameter, "[\(i)].appkey: required") }
            changes.append(try Self.noDisturbChange(r, appKey: appKey))
        }
        for change in changes { try await hub.changeNoDisturb(user, change) }
        return JSONResponse.empty()
    }

    @Sendable func groupsShield(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let r = try JSONObjectReader.body(try await request.jsonBody())
        let add = try Lists.ids(r, "add"), remove = try Lists.ids(r, "remove")
        try await hub.changeGroupShield(user, add: add, remove: remove)
        return JSONResponse.empty()
    }

    @Sendable func friendsAdd(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.addFriends(user, usernames: names)
        return JSONResponse.empty(status: .created)
    }

    @Sendable func friendsRemove(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let names = try Lists.strings(try await request.jsonBody())
        try await hub.removeFriends(user, usernames: names)
        return JSONResponse.empty()
    }

    @Sendable func friendsUpdate(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        guard case .array(let items) = try await request.jsonBody(), !items.isEmpty, items.count <= 500 else {
            throw APIError(.invalidParameter, "body: expected an array of 1 to 500 {username, note_name, others}")
        }
        let notes = try items.enumerated().map { i, item in
            let r = try JSONObjectReader.body(item, path: "[\(i)]")
            return FriendNote(username: try r.nonEmptyString("username"), noteName: try r.optionalString("note_name", maxLength: 64),
                       others: try r.optionalString("others", maxLength: 250))
        }
        try await hub.updateFriends(user, notes)
        return JSONResponse.empty()
    }

    @Sendable func friendsGet(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let friends = try await hub.friends(of: user)
        return JSONResponse.make(status: .ok, .array(friends.map { f in
            var o = Self.withAppKey(UsersAPI.json(f.user), f.user.appKey)
            if case .object(var fields) = o {
                fields["note_name"] = .string(f.noteName ?? "")
                fields["others"] = .string(f.others ?? "")
                o = .object(fields)
            }
            return o
        }))
    }

    /// `{"appkey": "...", "users": [...]}` of the cross-app friend calls.
    func crossFriends(_ request: Request) async throws -> (appKey: String, names: [String]) {
        let r = try JSONObjectReader.body(try await request.jsonBody())
        guard let appKey = try Lists.appKey(r) else { throw APIError(.invalidParameter, "appkey: required") }
        guard let users = r.object["users"] else { throw APIError(.invalidParameter, "users: required") }
        return (appKey, try Lists.strings(users, path: "users"))
    }

    @Sendable func crossFriendsAdd(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let (appKey, names) = try await crossFriends(request)
        try await hub.addFriends(user, usernames: names, friendAppKey: appKey)
        return JSONResponse.empty(status: .created)
    }

    @Sendable func crossFriendsRemove(_ request: Request, context: some RequestContext) async throws -> Response {
        let user = try await owner(request, context)
        let (appKey, names) = try await crossFriends(request)
        try await hub.removeFriends(user, usernames: names, friendAppKey: appKey)
        return JSONResponse.empty()
    }

    static func withAppKey(_ json: JSONValue, _ appKey: String) -> JSONValue {
        guard case .object(var o) = json else { return json }
        o["appkey"] = .string(appKey)
        return .object(o)
    }
}
