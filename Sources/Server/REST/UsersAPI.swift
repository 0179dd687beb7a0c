import Hub
import Hummingbird
import IMProtocol

/// `/v1/users` and `/v1/admins`: registering accounts and reading them.
struct UsersAPI {
    let hub: Hub

    static let maxBatch = 500

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/users", use: registerUsers)
        router.post("/v1/admins", use: registerAdmins)
        router.get("/v1/users/:username", use: getUser)
        router.get("/v1/users/:username/userstat", use: userStat)
        router.post("/v1/users/userstat", use: userStats)
    }

    /// POST /v1/users/: a batch of at most 500; each element gets its own result.
    @Sendable func registerUsers(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        guard case .array(let items) = try await request.jsonBody() else {
            throw APIError(.invalidParameter, "body: expected an array of users")
        }
        guard !items.isEmpty else { throw APIError(.invalidParameter, "body: the array of users is empty") }
        guard items.count <= Self.maxBatch else {
            throw APIError(.tooManyUsers, "body: at most \(Self.maxBatch) users per request, got \(items.count)")
        }
        var results: [JSONValue] = []
        for (i, item) in items.enumerated() {
            results.append(await registerOne(item, path: "[\(i)]", appKey: app.appKey, kind: .user))
        }
        return JSONResponse.make(status: .created, .array(results))
    }

    /// POST /v1/admins/: one admin as an object (or a list, as the Python SDK sends).
    @Sendable func registerAdmins(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let body = try await request.jsonBody()
        switch body {
        case .array(let items):
            guard !items.isEmpty, items.count <= Self.maxBatch else {
                throw APIError(.invalidParameter, "body: expected 1 to \(Self.maxBatch) admins")
            }
            var results: [JSONValue] = []
            for (i, item) in items.enumerated() {
                results.append(await registerOne(item, path: "[\(i)]", appKey: app.appKey, kind: .admin))
            }
            return JSONResponse.make(status: .created, .array(results))
        default:
            let user = try Self.newUser(body, path: "")
            let admin = try await hub.register(appKey: app.appKey, user, kind: .admin)
            return JSONResponse.make(status: .created, ["username": .string(admin.username)])
        }
    }

    func registerOne(_ item: JSONValue, path: String, appKey: String, kind: FromType) async -> JSONValue {
        let username: JSONValue = item["username"].flatMap { $0.stringValue.map(JSONValue.string) } ?? .null
        do {
            let user = try Self.newUser(item, path: path)
            let registered = try await hub.register(appKey: appKey, user, kind: kind)
            return ["username": .string(registered.username)]
        } catch {
            return ["username": username, "error": (APIError(error) ?? APIError(.internalError, "internal error")).json]
        }
    }

    /// Reads a registration element; 899003 names the bad field.
    static func newUser(_ value: JSONValue, path: String) throws -> NewUser {
        let r = try JSONObjectReader.body(value, path: path)
        do {
            let username = try r.string("username")
            let password = try r.string("password")
            do {
                try Hub.validate(username: username)
                try Hub.validate(password: password)
            } catch {
                throw APIError(error.code, path.isEmpty ? error.message : "\(path).\(error.message)")
            }
            return NewUser(username: username, password: password, profile: try profile(r))
        } catch let e as ProtocolError {
            throw APIError.invalid(e)
        }
    }

    static func profile(_ r: JSONObjectReader) throws(ProtocolError) -> Profile {
        var gender: Int?
        if let g = try r.optionalInt("gender") {
            guard (0...2).contains(g) else { throw ProtocolError(path: r.fieldPath("gender"), reason: "must be 0, 1 or 2") }
            gender = Int(g)
        }
        return Profile(
            nickname: try r.optionalString("nickname", maxLength: 64), avatar: try r.optionalString("avatar"),
            birthday: try r.optionalString("birthday"), gender: gender,
            signature: try r.optionalString("signature", maxLength: 250), region: try r.optionalString("region", maxLength: 250),
            address: try r.optionalString("address", maxLength: 250), extras: try r.optionalObject("extras"))
    }

    /// GET /v1/users/{username}: the profile with unset keys omitted.
    @Sendable func getUser(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let user = try await hub.user(appKey: app.appKey, username: username)
        return JSONResponse.make(status: .ok, Self.json(user))
    }

    /// GET /v1/users/{username}/userstat: `{"login": bool, "online": bool}`.
    @Sendable func userStat(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let username = try context.pathParameter("username")
        let stat = try await hub.userStat(appKey: app.appKey, username: username)
        return JSONResponse.make(status: .ok, ["login": .bool(stat.login), "online": .bool(stat.online)])
    }

    /// POST /v1/users/userstat: `["u1", ...]` → per user, the state of each device.
    @Sendable func userStats(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        guard case .array(let items) = try await request.jsonBody() else {
            throw APIError(.invalidParameter, "body: expected an array of usernames")
        }
        guard (1...Self.maxBatch).contains(items.count) else {
            throw APIError(.invalidParameter, "body: expected 1 to \(Self.maxBatch) usernames, got \(items.count)")
        }
        var results: [JSONValue] = []
        for (i, item) in items.enumerated() {
            guard case .string(let username) = item else {
                throw APIError(.invalidParameter, "[\(i)]: expected a string, got \(item.typeName)")
            }
            do {
                let stat = try await hub.userStat(appKey: app.appKey, username: username)
                let devices: [JSONValue] = stat.devices.map {
                    ["login": .bool($0.login), "online": .bool($0.online), "platform": .string($0.platform)]
                }
                results.append(["username": .string(username), "devices": .array(devices)])
            } catch {
                results.append(["username": .string(username), "error": APIError(error).json])
            }
        }
        return JSONResponse.make(status: .ok, .array(results))
    }

    /// A user as JMessage shows it.
    static func json(_ user: User) -> JSONValue {
        var o: [String: JSONValue] = [
            "username": .string(user.username),
            "ctime": .string(WireTime.format(millis: user.ctime)),
            "mtime": .string(WireTime.format(millis: user.mtime)),
        ]
        let p = user.profile
        if let v = p.nickname { o["nickname"] = .string(v) }
        if let v = p.avatar { o["avatar"] = .string(v) }
        if let v = p.birthday { o["birthday"] = .string(v) }
        if let v = p.gender { o["gender"] = .int(Int64(v)) }
        if let v = p.signature { o["signature"] = .string(v) }
        if let v = p.region { o["region"] = .string(v) }
        if let v = p.address { o["address"] = .string(v) }
        if let v = p.extras { o["extras"] = .object(v) }
        return .object(o)
    }
}
