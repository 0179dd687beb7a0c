import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// GET /v1/users/{username}/userstat and POST /v1/users/userstat: shapes and errors (the live states are
/// tested over real sockets in MynahTests).
@Suite struct UserStatAPITests {
    @Test("a user who never logged in is neither logged in nor online")
    func neverLoggedIn() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let reply = try await server.get("/v1/users/alice/userstat")
            #expect(reply.status == .ok)
            #expect(try reply.json() == ["login": false, "online": false])
            let batch = try await server.post("/v1/users/userstat", #"["alice"]"#)
            #expect(batch.status == .ok)
            #expect(try batch.json() == [["username": "alice", "devices": []]])
        }
    }

    @Test("an unknown user is 404 899002, in a batch its element carries the error")
    func unknownUser() async throws {
        try await withServer { server in
            expectError(try await server.get("/v1/users/nobody_here/userstat"), status: .notFound, code: 899002)
            let batch = try await server.post("/v1/users/userstat", #"["nobody_here"]"#)
            #expect(batch.status == .ok)
            #expect(try batch.json()["error"] == nil)
            guard case .array(let rows) = try batch.json() else { Issue.record("not an array"); return }
            #expect(rows.first?["error"]?["code"]?.intValue == 899002)
        }
    }

    @Test("bad batch bodies are 400 899003 naming the problem", arguments: [
        (#"{"u":1}"#, "body: expected an array of usernames"),
        ("[]", "body: expected 1 to 500 usernames, got 0"),
        ("[1]", "[0]: expected a string, got number"),
    ])
    func badBodies(body: String, message: String) async throws {
        try await withServer { server in
            expectError(try await server.post("/v1/users/userstat", body), status: .badRequest, code: 899003,
                        message: message)
        }
    }

    @Test("another app's secret does not see this app's users")
    func otherApp() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            expectError(try await server.get("/v1/users/alice/userstat", as: .other), status: .notFound, code: 899002)
        }
    }
}
