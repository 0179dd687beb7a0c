import Foundation
import HTTPTypes
import IMProtocol
import Testing

/// Basic authentication of the REST API: every endpoint, every way of getting it wrong.
@Suite struct AuthTests {
    /// Every authenticated endpoint, with a harmless request.
    static let endpoints: [(method: HTTPRequest.Method, uri: String, body: String?)] = [
        (.post, "/v1/users/", #"[{"username":"alice","password":"secret1"}]"#),
        (.post, "/v1/users", #"[{"username":"alice","password":"secret1"}]"#),
        (.post, "/v1/admins/", #"{"username":"admin1","password":"secret1"}"#),
        (.get, "/v1/users/alice", nil),
        (.post, "/v1/messages", Messages.text(from: "admin1", to: "alice", "hi").serializedString()),
        (.get, "/v2/messages?\(WireClock.window(count: 10))", nil),
        (.get, "/v2/users/alice/messages?\(WireClock.window(count: 10))", nil),
    ]

    @Test("no Authorization header: 401 899007 on every endpoint", arguments: endpoints)
    func missingAuthorization(_ endpoint: (method: HTTPRequest.Method, uri: String, body: String?)) async throws {
        try await withServer { server in
            let reply = try await server.request(endpoint.method, endpoint.uri, as: .none, body: endpoint.body)
            expectError(reply, status: .unauthorized, code: 899007)
            #expect(reply.headers[.wwwAuthenticate]?.lowercased().hasPrefix("basic") == true)
        }
    }

    @Test("wrong master secret: 401 899008 on every endpoint", arguments: endpoints)
    func wrongSecret(_ endpoint: (method: HTTPRequest.Method, uri: String, body: String?)) async throws {
        try await withServer { server in
            let reply = try await server.request(
                endpoint.method, endpoint.uri, as: .app(Apps.appKey, "not-the-secret"), body: endpoint.body)
            expectError(reply, status: .unauthorized, code: 899008)
        }
    }

    @Test("unknown AppKey: 401 899009 on every endpoint", arguments: endpoints)
    func unknownAppKey(_ endpoint: (method: HTTPRequest.Method, uri: String, body: String?)) async throws {
        try await withServer { server in
            let reply = try await server.request(
                endpoint.method, endpoint.uri, as: .app("000000000000000000000000", Apps.masterSecret),
                body: endpoint.body)
            expectError(reply, status: .unauthorized, code: 899009)
        }
    }

    @Test("the secret of the other app is a wrong secret: 401 899008")
    func otherAppsSecret() async throws {
        try await withServer { server in
            let reply = try await server.get("/v1/users/alice", as: .app(Apps.appKey, Apps.otherSecret))
            expectError(reply, status: .unauthorized, code: 899008)
        }
    }

    @Test("malformed Basic header: 401 899008", arguments: [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + Data("no-colon-here".utf8).base64EncodedString(),
        "Basic " + Data([0xFF, 0xFE, 0x3A, 0x41]).base64EncodedString(),
        "Bearer " + Data("\(Apps.appKey):\(Apps.masterSecret)".utf8).base64EncodedString(),
        "Digest username=\"x\"",
        Data("\(Apps.appKey):\(Apps.masterSecret)".utf8).base64EncodedString(),
    ])
    func malformedHeader(_ header: String) async throws {
        try await withServer { server in
            let reply = try await server.get("/v1/users/alice", as: .header(header))
            expectError(reply, status: .unauthorized, code: 899008)
        }
    }

    @Test("the scheme name is case-insensitive and the secret may contain ':'")
    func lenientScheme() async throws {
        try await withServer { server in
            let lower = "basic " + Data("\(Apps.appKey):\(Apps.masterSecret)".utf8).base64EncodedString()
            expectError(try await server.get("/v1/users/nobody", as: .header(lower)), status: .notFound, code: 899002)
            // A secret with a colon splits at the first one only.
            let colon = basic(Apps.appKey, Apps.masterSecret + ":extra")
            expectError(try await server.get("/v1/users/nobody", as: .header(colon)), status: .unauthorized, code: 899008)
        }
    }

    @Test("authentication is checked before the body is read")
    func authBeforeBody() async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", "{not json", as: .app(Apps.appKey, "wrong"))
            expectError(reply, status: .unauthorized, code: 899008)
            let missing = try await server.post("/v1/messages", "", as: .none)
            expectError(missing, status: .unauthorized, code: 899007)
        }
    }

    @Test("apps are isolated: a user of app A is 404 899002 with app B's credentials")
    func appsAreIsolated() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            #expect(try await server.get("/v1/users/alice").status == .ok)
            expectError(try await server.get("/v1/users/alice", as: .other), status: .notFound, code: 899002)

            // The same username can be registered in app B: usernames are per app.
            try await server.registerUsers(["alice"], as: .other)
            #expect(try await server.get("/v1/users/alice", as: .other).status == .ok)

            // B's history cannot see A's user or messages.
            try await server.registerAdmin("admin1")
            try await server.sendText(from: "admin1", to: "alice", "for app A only")
            let history = try await server.get("/v2/messages?\(WireClock.window(count: 10))", as: .other)
            #expect(history.status == .ok)
            #expect(try history.json()["total"]?.intValue == 0)
            #expect(try history.json()["messages"]?.arrayValue?.isEmpty == true)

            // B's admin can't send as A's admin.
            let asA = try await server.post("/v1/messages", json: Messages.text(from: "admin1", to: "alice", "x"),
                                            as: .other)
            expectError(asA, status: .notFound, code: 899002)
        }
    }

    @Test("/health answers 200 without authentication")
    func health() async throws {
        try await withServer { server in
            let reply = try await server.get("/health", as: .none)
            #expect(reply.status == .ok)
        }
    }
}
