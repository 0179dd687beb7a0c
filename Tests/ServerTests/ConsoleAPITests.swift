import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import IMProtocol
import NIOCore
import Server
import Testing

/// `/console` and `/chat` through the router: sessions, CSRF, the sign-in limit, and the REST API behind a session.
@Suite struct ConsoleAPITests {
    static let operatorPassword = "operator-pass"
    static let operatorHash = Hub.bcryptHash(operatorPassword, cost: 4)

    struct Console: Sendable {
        let client: any TestClientProtocol
        let hub: Hub

        func call(_ method: HTTPRequest.Method, _ uri: String, json: JSONValue? = nil, cookie: String? = nil,
                  csrf: String? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
            var headers = extra
            if let cookie { headers[.cookie] = cookie }
            if let csrf { headers[HTTPField.Name("X-CSRF-Token")!] = csrf }
            if json != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: uri, method: method, headers: headers,
                                            body: json.map { ByteBuffer(string: $0.serializedString()) }) { response in
                Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
            }
        }

        /// Signs in; returns the cookie to send back and the CSRF token.
        func signIn(_ body: JSONValue, path: String = "/console/api/session") async throws -> (cookie: String, csrf: String) {
            let reply = try await call(.post, path, json: body)
            try #require(reply.status == .ok, "\(reply)")
            let setCookie = try #require(reply.headers[.setCookie])
            let csrf = try #require(try reply.json()["csrf"]?.stringValue)
            return (String(setCookie.split(separator: ";")[0]), csrf)
        }
    }

    func withConsole(_ test: @Sendable (Console) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-console-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let hub = try await Hub(configuration: .init(apps: Apps.settings, passwordCost: 4),
                                store: try SQLiteHubStore(path: dir.path + "/hub.sqlite"))
        let options = ConsoleOptions(operators: [ConsoleOperator(name: "ops", passwordHash: Self.operatorHash)],
                                     maxFailures: 3)
        let app = HTTPServer.application(hub: hub, configuration: .init(port: 0, console: options))
        try await app.test(.router) { client in try await test(Console(client: client, hub: hub)) }
    }

    @Test func pagesAndAssetsCarryAStrictPolicy() async throws {
        try await withConsole { c in
            for path in ["/console", "/chat", "/console/assets/console.js", "/chat/assets/mynah.js", "/console/assets/mynah.css"] {
                let reply = try await c.call(.get, path)
                #expect(reply.status == .ok, "\(path): \(reply.status)")
                let csp = reply.headers[.contentSecurityPolicy] ?? ""
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe") && csp.contains("frame-ancestors 'none'"))
                #expect(reply.headers[.xContentTypeOptions] == "nosniff")
            }
            let page = try await c.call(.get, "/console")
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(!page.text.contains("<script>") && !page.text.contains("style="))
            #expect(try await c.call(.get, "/console/assets/../Package.swift").status == .notFound)
            #expect(try await c.call(.get, "/console/assets/nothing.js").status == .notFound)
        }
    }

    @Test func anAppSessionUsesTheRESTAPIOfThatAppOnly() async throws {
        try await withConsole { c in
            let reply = try await c.call(.post, "/console/api/session",
                                         json: ["appkey": .string(Apps.appKey), "master_secret": .string(Apps.masterSecret)])
            let setCookie = try #require(reply.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/console"))
            let (cookie, csrf) = try await c.signIn(["appkey": .string(Apps.appKey), "master_secret": .string(Apps.masterSecret)])
            let rest = "/console/api/apps/\(Apps.appKey)/rest"
            let users: JSONValue = [["username": "alice", "password": "alice-pass"], ["username": "x", "password": "pass-x"]]
            // A change without the CSRF token, or with a wrong one, or from another origin: refused, nothing stored.
            expectError(try await c.call(.post, rest + "/v1/users", json: users, cookie: cookie), status: .forbidden, code: 899008)
            expectError(try await c.call(.post, rest + "/v1/users", json: users, cookie: cookie, csrf: "nope"),
                        status: .forbidden, code: 899008)
            expectError(try await c.call(.post, rest + "/v1/users", json: users, cookie: cookie, csrf: csrf,
                                         headers: [.origin: "http://evil.example"]),
                        status: .forbidden, code: 899016)
            #expect(try await c.call(.get, rest + "/v1/users/alice", cookie: cookie).status == .notFound)
            // With it: the REST API's own answer, per-element errors and all.
            let created = try await c.call(.post, rest + "/v1/users", json: users, cookie: cookie, csrf: csrf)
            #expect(created.status == .created)
            let items = try #require(try created.json().arrayValue)
            #expect(items[0] == ["username": "alice"])
            expectElementError(items[1], code: 899003, messageContains: "[1].username: must be 4 to 128 bytes")
            let alice = try await c.call(.get, rest + "/v1/users/alice", cookie: cookie)
            #expect(try alice.json()["username"] == "alice")
            // Another app: refused. No session: 401.
            expectError(try await c.call(.get, "/console/api/apps/\(Apps.otherAppKey)/rest/v1/users?start=0&count=5",
                                         cookie: cookie), status: .forbidden, code: 899020)
            expectError(try await c.call(.get, rest + "/v1/users/alice"), status: .unauthorized, code: 899007)
            // Not an operator: no apps created, no reload.
            expectError(try await c.call(.post, "/console/api/apps", json: ["name": "x"], cookie: cookie, csrf: csrf),
                        status: .forbidden, code: 899016)
            let apps = try await c.call(.get, "/console/api/apps", cookie: cookie)
            #expect(try apps.json()["apps"]?.arrayValue?.compactMap { $0["appkey"]?.stringValue } == [Apps.appKey])
            // Signing out ends the session.
            #expect(try await c.call(.delete, "/console/api/session", cookie: cookie, csrf: csrf).status == .ok)
            expectError(try await c.call(.get, rest + "/v1/users/alice", cookie: cookie), status: .unauthorized, code: 899007)
            #expect(try await c.call(.get, "/console/api/session", cookie: cookie).text == "{}")
        }
    }

    @Test func anOperatorCreatesAnAppUsableAtOnce() async throws {
        try await withConsole { c in
            let (cookie, csrf) = try await c.signIn(["operator": "ops", "password": .string(Self.operatorPassword)])
            let apps = try await c.call(.get, "/console/api/apps", cookie: cookie)
            #expect(try apps.json()["apps"]?.arrayValue?.count == 2)
            let reply = try await c.call(.post, "/console/api/apps", json: ["name": "Made here", "max_group_members": 50],
                                         cookie: cookie, csrf: csrf)
            #expect(reply.status == .created, "\(reply)")
            let app = try reply.json()
            let appKey = try #require(app["appkey"]?.stringValue)
            let secret = try #require(app["master_secret"]?.stringValue)
            #expect(app["source"] == "console" && app["max_group_members"] == 50)
            let direct = try await c.client.execute(
                uri: "/v1/users", method: .post,
                headers: [.authorization: basic(appKey, secret), .contentType: "application/json"],
                body: ByteBuffer(string: #"[{"username":"carol","password":"carol-pass"}]"#)) { $0.status }
            #expect(direct == .created)
            expectError(try await c.call(.post, "/console/api/apps", json: ["name": ""], cookie: cookie, csrf: csrf),
                        status: .badRequest, code: 899003, message: "name: must be 1 to 64 characters")
            let stats = try await c.call(.get, "/console/api/apps/\(appKey)/stats?days=7", cookie: cookie)
            #expect(try stats.json()["users"] == 1)
            #expect(try stats.json()["messages_per_day"]?.arrayValue?.count == 7)
        }
    }

    @Test func failedSignInsAreLimitedPerName() async throws {
        try await withConsole { c in
            for _ in 0..<3 {
                expectError(try await c.call(.post, "/console/api/session", json: ["operator": "ops", "password": "wrong"]),
                            status: .unauthorized, code: 899008)
            }
            expectError(try await c.call(.post, "/console/api/session",
                                         json: ["operator": "ops", "password": .string(Self.operatorPassword)]),
                        status: .tooManyRequests, code: 899030)
            // Another name is not locked out; an unknown operator fails like a wrong password.
            expectError(try await c.call(.post, "/console/api/session", json: ["operator": "nobody", "password": "x"]),
                        status: .unauthorized, code: 899008)
            _ = try await c.signIn(["appkey": .string(Apps.appKey), "master_secret": .string(Apps.masterSecret)])
        }
    }

    @Test func aChatSessionMayOnlyUseMedia() async throws {
        try await withConsole { c in
            _ = try await c.hub.register(appKey: Apps.appKey, NewUser(username: "alice", password: "alice-pass"), kind: .user)
            expectError(try await c.call(.post, "/chat/api/session", json: ["appkey": .string(Apps.appKey),
                                                                          "username": "alice", "password": "wrong"]),
                        status: .unauthorized, code: 899008)
            let (cookie, _) = try await c.signIn(
                ["appkey": .string(Apps.appKey), "username": "alice", "password": "alice-pass"], path: "/chat/api/session")
            let me = try await c.call(.get, "/chat/api/session", cookie: cookie)
            #expect(try me.json()["username"] == "alice")
            expectError(try await c.call(.get, "/chat/api/rest/v1/users?start=0&count=5", cookie: cookie),
                        status: .forbidden, code: 899016)
            // Media reaches the media API as the app (this test server has no media directory: its own answer).
            expectError(try await c.call(.get, "/chat/api/rest/v1/resource?mediaId=qiniu/image/j/00", cookie: cookie),
                        status: .notImplemented, code: 899000)
            // The chat's cookie is no console session.
            expectError(try await c.call(.get, "/console/api/apps", cookie: cookie), status: .unauthorized, code: 899007)
        }
    }
}
