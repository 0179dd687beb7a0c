import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// Managing accounts: PUT/DELETE /v1/users/{u}, DELETE /v1/users, GET /v1/users and /v1/admins, password, forbidden,
/// a user's groups.
@Suite struct AccountsAPITests {
    @Test("PUT /v1/users/{u} changes the given fields and answers 204 without a body, as JMessage does")
    func updateUser() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let reply = try await server.put("/v1/users/alice", #"{"nickname":"Ali","gender":2,"signature":"hi"}"#)
            #expect(reply.status == .noContent, "\(reply)")
            #expect(reply.text.isEmpty)
            let json = try await server.get("/v1/users/alice").json()
            #expect(json["username"]?.stringValue == "alice")
            #expect(json["nickname"]?.stringValue == "Ali")
            #expect(json["gender"]?.intValue == 2)
            let second = try await server.put("/v1/users/alice", #"{"region":"north"}"#)
            #expect(second.status == .noContent, "\(second)")
            let stored = try await server.user("alice")
            #expect(stored.profile.nickname == "Ali")
            #expect(stored.profile.region == "north")
            #expect(stored.profile.signature == "hi")
        }
    }

    @Test("PUT /v1/users/{u}: unknown user 899002, bad field types 899003 naming the field")
    func updateUserErrors() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            expectError(try await server.put("/v1/users/ghost1", #"{"nickname":"x"}"#), status: .notFound, code: 899002,
                        messageContains: "ghost1")
            expectError(try await server.put("/v1/users/alice", #"{"nickname":5}"#), status: .badRequest, code: 899003,
                        messageContains: "nickname")
            expectError(try await server.put("/v1/users/alice", #"{"password":"newpass"}"#), status: .badRequest,
                        code: 899003, messageContains: "password")
            expectError(try await server.put("/v1/users/alice", "[1]"), status: .badRequest, code: 899003)
            expectError(try await server.put("/v1/users/alice", "{"), status: .badRequest, code: 899003)
        }
    }

    @Test("DELETE /v1/users/{u}: 204, then the user is gone; unknown 899002")
    func deleteUser() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let reply = try await server.delete("/v1/users/alice")
            #expect(reply.status == .noContent, "\(reply)")
            expectError(try await server.get("/v1/users/alice"), status: .notFound, code: 899002)
            #expect(try await server.get("/v1/users/bobby").status == .ok)
            expectError(try await server.delete("/v1/users/alice"), status: .notFound, code: 899002)
        }
    }

    @Test("DELETE /v1/users with a list: all or nothing; over 100 names 899003")
    func deleteUsers() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            expectError(try await server.delete("/v1/users", #"["alice","ghost1"]"#), status: .notFound, code: 899002,
                        messageContains: "ghost1")
            #expect(try await server.get("/v1/users/alice").status == .ok)
            let reply = try await server.delete("/v1/users/", #"["alice","bobby"]"#)
            #expect(reply.status == .noContent, "\(reply)")
            expectError(try await server.get("/v1/users/bobby"), status: .notFound, code: 899002)
            #expect(try await server.get("/v1/users/carol").status == .ok)

            let many = JSONValue.array((0..<101).map { .string("user\($0)") })
            expectError(try await server.delete("/v1/users", json: many), status: .badRequest, code: 899003,
                        messageContains: "at most 100")
            expectError(try await server.delete("/v1/users", #"{"username":"carol"}"#), status: .badRequest, code: 899003,
                        messagePrefix: "body")
            expectError(try await server.delete("/v1/users", #"["carol",7]"#), status: .badRequest, code: 899003,
                        messagePrefix: "body[1]")
            expectError(try await server.delete("/v1/users", "[]"), status: .badRequest, code: 899003)
            #expect(try await server.get("/v1/users/carol").status == .ok)
        }
    }

    @Test("GET /v1/users pages users (not admins) by registration order")
    func listUsers() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            try await server.registerAdmin("admin1")
            let reply = try await server.get("/v1/users/?start=1&count=5")
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json.sortedKeys == ["count", "start", "total", "users"])
            #expect(json["total"]?.intValue == 3)
            #expect(json["start"]?.intValue == 1)
            #expect(json["count"]?.intValue == 2)
            #expect(json["users"]?.arrayValue?.map { $0["username"]?.stringValue } == ["bobby", "carol"])

            let admins = try await server.get("/v1/admins?start=0&count=10").json()
            #expect(admins["total"]?.intValue == 1)
            #expect(admins["users"]?.arrayValue?.map { $0["username"]?.stringValue } == ["admin1"])
        }
    }

    @Test("paging edges: past the end is empty with the right total; bad or missing start/count 899003",
          arguments: ["/v1/users", "/v1/admins"])
    func pagingEdges(_ path: String) async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.registerAdmin("admin1")
            try await server.registerAdmin("admin2")
            let past = try await server.get("\(path)?start=10&count=5")
            #expect(past.status == .ok, "\(past)")
            let json = try past.json()
            #expect(json["total"]?.intValue == 2)
            #expect(json["count"]?.intValue == 0)
            #expect(json["users"] == .array([]))
            expectError(try await server.get("\(path)?start=0&count=501"), status: .badRequest, code: 899003,
                        messagePrefix: "count")
            expectError(try await server.get("\(path)?start=0&count=0"), status: .badRequest, code: 899003,
                        messagePrefix: "count")
            expectError(try await server.get("\(path)?start=0"), status: .badRequest, code: 899003, messagePrefix: "count")
            expectError(try await server.get("\(path)?count=5"), status: .badRequest, code: 899003, messagePrefix: "start")
            expectError(try await server.get("\(path)?start=-1&count=5"), status: .badRequest, code: 899003,
                        messagePrefix: "start")
            expectError(try await server.get("\(path)?start=x&count=5"), status: .badRequest, code: 899003,
                        messagePrefix: "start")
            #expect(try await server.get("\(path)?start=0&count=500").status == .ok)
        }
    }

    @Test("PUT /v1/users/{u}/password: 204 and the new password logs in")
    func changePassword() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let reply = try await server.put("/v1/users/alice/password", #"{"new_password":"brand-new"}"#)
            #expect(reply.status == .noContent, "\(reply)")
            _ = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: "brand-new")
            await expectHubError(899008) {
                _ = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: TestServer.password)
            }
            expectError(try await server.put("/v1/users/alice/password", "{}"), status: .badRequest, code: 899003,
                        messagePrefix: "new_password")
            expectError(try await server.put("/v1/users/alice/password", #"{"new_password":12345}"#),
                        status: .badRequest, code: 899003, messagePrefix: "new_password")
            expectError(try await server.put("/v1/users/alice/password", #"{"new_password":"abc"}"#),
                        status: .badRequest, code: 899003, messageContains: "password")
            expectError(try await server.put("/v1/users/ghost1/password", #"{"new_password":"brand-new"}"#),
                        status: .notFound, code: 899002)
        }
    }

    @Test("PUT /v1/users/{u}/forbidden?disable=: a forbidden user can neither log in (801006) nor send; lifted again")
    func forbidden() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let reply = try await server.put("/v1/users/alice/forbidden?disable=true", nil)
            #expect(reply.status == .noContent, "\(reply)")
            await expectHubError(801006) {
                _ = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: TestServer.password)
            }
            await expectHubError(801006) { try await server.userSends("hi", from: "alice", to: "bobby") }
            #expect(try await server.messages(of: "bobby").isEmpty)

            #expect(try await server.put("/v1/users/alice/forbidden?disable=false", nil).status == .noContent)
            _ = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: TestServer.password)
            try await server.userSends("hi", from: "alice", to: "bobby")
            #expect(try await server.messages(of: "bobby").count == 1)

            expectError(try await server.put("/v1/users/alice/forbidden", nil), status: .badRequest, code: 899003,
                        messagePrefix: "disable")
            expectError(try await server.put("/v1/users/alice/forbidden?disable=maybe", nil), status: .badRequest,
                        code: 899003, messagePrefix: "disable")
            expectError(try await server.put("/v1/users/ghost1/forbidden?disable=true", nil), status: .notFound,
                        code: 899002)
        }
    }

    @Test("GET /v1/users/{u}/groups and the cross variant list the user's groups")
    func userGroups() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            let g1 = try await server.createGroup(owner: "alice", members: ["bobby"], name: "one")
            let g2 = try await server.createGroup(owner: "carol", members: ["bobby"], name: "two")
            for path in ["/v1/users/bobby/groups/", "/v1/users/bobby/groups", "/v1/cross/users/bobby/groups"] {
                let reply = try await server.get(path)
                #expect(reply.status == .ok, "\(reply)")
                let groups = try #require(try reply.json().arrayValue)
                #expect(Set(groups.compactMap { $0["gid"]?.intValue }) == [g1, g2])
                #expect(groups.allSatisfy { $0["name"] != nil && $0["MaxMemberCount"] != nil })
            }
            let alice = try #require(try await server.get("/v1/users/alice/groups").json().arrayValue)
            #expect(alice.map { $0["gid"]?.intValue } == [g1])
            expectError(try await server.get("/v1/users/ghost1/groups"), status: .notFound, code: 899002)
        }
    }

    @Test("wrong or missing credentials: 401 899008 / 899007, on every account endpoint", arguments: [
        ("PUT", "/v1/users/alice"), ("DELETE", "/v1/users/alice"), ("DELETE", "/v1/users"), ("GET", "/v1/users?start=0&count=1"),
        ("GET", "/v1/admins?start=0&count=1"), ("PUT", "/v1/users/alice/password"),
        ("PUT", "/v1/users/alice/forbidden?disable=true"), ("GET", "/v1/users/alice/groups"),
    ])
    func auth(_ method: String, _ path: String) async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let m = HTTPRequest.Method(rawValue: method)!
            let wrong = try await server.request(m, path, as: .app(Apps.appKey, "wrong-secret"), body: #"["alice"]"#)
            expectError(wrong, status: .unauthorized, code: 899008)
            let none = try await server.request(m, path, as: .none, body: #"["alice"]"#)
            expectError(none, status: .unauthorized, code: 899007)
            #expect(try await server.get("/v1/users/alice").status == .ok)
        }
    }

    @Test("another app's secret sees none of this app's accounts")
    func isolation() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            expectError(try await server.put("/v1/users/alice", #"{"nickname":"x"}"#, as: .other), status: .notFound,
                        code: 899002)
            expectError(try await server.delete("/v1/users/alice", as: .other), status: .notFound, code: 899002)
            let list = try await server.get("/v1/users?start=0&count=10", as: .other).json()
            #expect(list["total"]?.intValue == 0)
            #expect(try await server.get("/v1/users/alice").status == .ok)
        }
    }
}
