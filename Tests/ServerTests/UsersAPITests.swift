import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// POST /v1/users/, POST /v1/admins/ and GET /v1/users/{username}.
@Suite struct UsersAPITests {
    // MARK: POST /v1/users/

    @Test("registering users answers 201 with one {\"username\"} per element", arguments: ["/v1/users/", "/v1/users"])
    func register(_ path: String) async throws {
        try await withServer { server in
            let reply = try await server.post(path, #"""
                [{"username":"alice","password":"secret1"},{"username":"bob_2.x-y@z","password":"secret2"}]
                """#)
            #expect(reply.status == .created, "\(reply)")
            #expect(reply.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(try reply.json() == [["username": "alice"], ["username": "bob_2.x-y@z"]])
            #expect(try await server.get("/v1/users/alice").status == .ok)
            #expect(try await server.get("/v1/users/bob_2.x-y@z").status == .ok)
        }
    }

    @Test("the stored password is the one registered")
    func passwordIsStored() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let user = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: TestServer.password)
            #expect(user.username == "alice")
            #expect(user.kind == .user)
            let error = await #expect(throws: HubError.self) {
                try await server.hub.login(appKey: Apps.appKey, username: "alice", password: "wrong")
            }
            #expect(error?.code == .authenticationFailed)
        }
    }

    @Test("a duplicate inside the batch fails alone with 899001")
    func duplicateInBatch() async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", #"""
                [{"username":"alice","password":"secret1"},{"username":"alice","password":"secret2"},
                 {"username":"carol","password":"secret3"}]
                """#)
            #expect(reply.status == .created, "\(reply)")
            let items = try #require(try reply.json().arrayValue)
            try #require(items.count == 3)
            #expect(items[0] == ["username": "alice"])
            #expect(items[1]["username"] == "alice")
            expectElementError(items[1], code: 899001, messageContains: "alice")
            #expect(items[2] == ["username": "carol"])
            // The first registration won: its password is kept.
            _ = try await server.hub.login(appKey: Apps.appKey, username: "alice", password: "secret1")
        }
    }

    @Test("registering an existing user again: that element has 899001")
    func alreadyRegistered() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            try await server.registerAdmin("admin1")
            let reply = try await server.post("/v1/users/", #"""
                [{"username":"alice","password":"secret1"},{"username":"admin1","password":"secret1"},
                 {"username":"dave","password":"secret1"}]
                """#)
            #expect(reply.status == .created)
            let items = try #require(try reply.json().arrayValue)
            try #require(items.count == 3)
            expectElementError(items[0], code: 899001)
            expectElementError(items[1], code: 899001)
            #expect(items[2] == ["username": "dave"])
        }
    }

    @Test("a bad username fails its element with 899003 naming the field", arguments: [
        "abc",  // too short
        "bad name",  // space
        "bad!name",
        "_leading",
        ".leading",
        "ümlaut",
        "名字名字",
        String(repeating: "a", count: 129),
        "",
    ])
    func badUsername(_ username: String) async throws {
        try await withServer { server in
            let body: JSONValue = [
                ["username": .string(username), "password": "secret1"], ["username": "good_one", "password": "secret1"],
            ]
            let reply = try await server.post("/v1/users/", json: body)
            #expect(reply.status == .created, "\(reply)")
            let items = try #require(try reply.json().arrayValue)
            try #require(items.count == 2)
            #expect(items[0]["username"] == .string(username))
            expectElementError(items[0], code: 899003, messageContains: "username")
            #expect(items[1] == ["username": "good_one"])
            if !username.isEmpty {
                expectError(try await server.get("/v1/users/\(username.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? username)"),
                            status: .notFound, code: 899002)
            }
        }
    }

    @Test("usernames of exactly 4 and 128 bytes are accepted")
    func usernameBounds() async throws {
        try await withServer { server in
            try await server.registerUsers(["abcd", String(repeating: "z", count: 128), "0user", "A.b_c-d@e"])
        }
    }

    @Test("bad or missing fields of an element fail it with 899003 naming the field", arguments: [
        (#"{"username":"alice","password":"abc"}"#, "password"),
        (#"{"username":"alice"}"#, "password"),
        (#"{"password":"secret1"}"#, "username"),
        (#"{"username":12345,"password":"secret1"}"#, "username"),
        (#"{"username":"alice","password":"secret1","gender":3}"#, "gender"),
        (#"{"username":"alice","password":"secret1","gender":"male"}"#, "gender"),
        (#"{"username":"alice","password":"secret1","nickname":"\#(String(repeating: "n", count: 65))"}"#, "nickname"),
        (#"{"username":"alice","password":"secret1","extras":"not an object"}"#, "extras"),
        (#""alice""#, "[0]"),
        ("null", "[0]"),
    ])
    func badElement(_ element: String, field: String) async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", "[\(element)]")
            #expect(reply.status == .created, "\(reply)")
            let items = try #require(try reply.json().arrayValue)
            try #require(items.count == 1)
            expectElementError(items[0], code: 899003, messageContains: field)
            #expect(items[0]["error"]?["message"]?.stringValue?.hasPrefix("[0]") == true, "\(items[0])")
            expectError(try await server.get("/v1/users/alice"), status: .notFound, code: 899002)
        }
    }

    @Test("500 users in one request are accepted")
    func fiveHundred() async throws {
        try await withServer { server in
            let body = JSONValue.array((0..<500).map { ["username": .string("user\($0)"), "password": "secret1"] })
            let reply = try await server.post("/v1/users/", json: body)
            #expect(reply.status == .created)
            let items = try #require(try reply.json().arrayValue)
            #expect(items.count == 500)
            #expect(items.allSatisfy { $0["error"] == nil })
            #expect(items.last == ["username": "user499"])
        }
    }

    @Test("more than 500 users: 400 899013 and nobody is registered")
    func overFiveHundred() async throws {
        try await withServer { server in
            let body = JSONValue.array((0..<501).map { ["username": .string("user\($0)"), "password": "secret1"] })
            let reply = try await server.post("/v1/users/", json: body)
            expectError(reply, status: .badRequest, code: 899013)
            expectError(try await server.get("/v1/users/user0"), status: .notFound, code: 899002)
        }
    }

    @Test("a body that is not a non-empty array: 400 899003", arguments: [
        #"{"username":"alice","password":"secret1"}"#,
        #""alice""#,
        "42",
        "null",
        "[]",
    ])
    func notAnArray(_ body: String) async throws {
        try await withServer { server in
            expectError(try await server.post("/v1/users/", body), status: .badRequest, code: 899003)
        }
    }

    @Test("an empty body: 400 899003")
    func emptyBody() async throws {
        try await withServer { server in
            expectError(try await server.post("/v1/users/", ""), status: .badRequest, code: 899003)
            expectError(try await server.post("/v1/users/", nil), status: .badRequest, code: 899003)
        }
    }

    @Test("malformed JSON: 400 899003, never 500", arguments: [
        "[{",
        "not json",
        #"[{"username":}]"#,
        "[{'username':'alice'}]",
        String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000),
        "\u{FEFF}garbage",
    ])
    func malformedJSON(_ body: String) async throws {
        try await withServer { server in
            expectError(try await server.post("/v1/users/", body), status: .badRequest, code: 899003)
            expectError(try await server.post("/v1/admins/", body), status: .badRequest, code: 899003)
            expectError(try await server.post("/v1/messages", body), status: .badRequest, code: 899003)
        }
    }

    @Test("invalid UTF-8 in the body: 400 899003")
    func invalidUTF8() async throws {
        try await withServer { server in
            let bytes: [UInt8] = Array(#"[{"username":"alice","password":""#.utf8) + [0xC3, 0x28] + Array(#""}]"#.utf8)
            let status = try await server.post("/v1/users/", bytes: bytes).status
            #expect(status != .internalServerError)
            #expect(status == .badRequest || status == .created)
        }
    }

    @Test("a body over 1 MiB: 400 899003")
    func hugeBody() async throws {
        try await withServer { server in
            let body = "[\"" + String(repeating: "x", count: 1 << 20) + "\"]"
            expectError(try await server.post("/v1/users/", body), status: .badRequest, code: 899003)
        }
    }

    @Test("the Content-Type is not checked: the SDKs' 'application/json;charset:utf-8' and others work", arguments: [
        "application/json;charset:utf-8", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
    ])
    func looseContentType(_ contentType: String) async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", #"[{"username":"alice","password":"secret1"}]"#,
                                              contentType: contentType)
            #expect(reply.status == .created, "\(reply)")
            #expect(try reply.json() == [["username": "alice"]])
        }
    }

    @Test("no Content-Type at all works too")
    func noContentType() async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", #"[{"username":"alice","password":"secret1"}]"#,
                                              contentType: nil)
            #expect(reply.status == .created, "\(reply)")
        }
    }

    // MARK: POST /v1/admins/

    @Test("an admin as an object: 201 {\"username\"}", arguments: ["/v1/admins/", "/v1/admins"])
    func registerAdmin(_ path: String) async throws {
        try await withServer { server in
            let reply = try await server.post(path, #"{"username":"admin1","password":"secret1","nickname":"Boss"}"#)
            #expect(reply.status == .created, "\(reply)")
            #expect(try reply.json() == ["username": "admin1"])
            let user = try await server.hub.user(appKey: Apps.appKey, username: "admin1")
            #expect(user.kind == .admin)
            #expect(try await server.get("/v1/users/admin1").json()["nickname"] == "Boss")
        }
    }

    @Test("admins as a list (the Python SDK): 201 with a list")
    func registerAdminList() async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/admins/", #"""
                [{"username":"admin1","password":"secret1"},{"username":"admin2","password":"secret2"},
                 {"username":"admin1","password":"secret1"}]
                """#)
            #expect(reply.status == .created, "\(reply)")
            let items = try #require(try reply.json().arrayValue)
            try #require(items.count == 3)
            #expect(items[0] == ["username": "admin1"])
            #expect(items[1] == ["username": "admin2"])
            expectElementError(items[2], code: 899001)
            #expect(try await server.hub.user(appKey: Apps.appKey, username: "admin2").kind == .admin)
        }
    }

    @Test("a duplicate admin: 400 899001")
    func duplicateAdmin() async throws {
        try await withServer { server in
            try await server.registerAdmin("admin1")
            let again = try await server.post("/v1/admins/", #"{"username":"admin1","password":"other12"}"#)
            expectError(again, status: .badRequest, code: 899001)

            // A username taken by a user can't become an admin, and the user stays a user.
            try await server.registerUsers(["alice"])
            let taken = try await server.post("/v1/admins/", #"{"username":"alice","password":"secret1"}"#)
            expectError(taken, status: .badRequest, code: 899001)
            #expect(try await server.hub.user(appKey: Apps.appKey, username: "alice").kind == .user)
        }
    }

    @Test("a bad admin: 400 899003 naming the field", arguments: [
        (#"{"username":"ab","password":"secret1"}"#, "username"),
        (#"{"username":"admin1"}"#, "password"),
        (#"{"username":"admin1","password":"secret1","gender":7}"#, "gender"),
        (#""admin1""#, "object"),
        ("[]", "admins"),
        ("", "empty"),
    ])
    func badAdmin(_ body: String, field: String) async throws {
        try await withServer { server in
            expectError(try await server.post("/v1/admins/", body), status: .badRequest, code: 899003,
                        messageContains: field)
        }
    }

    // MARK: GET /v1/users/{username}

    @Test("GET a user: username, nickname, ctime and mtime as yyyy-MM-dd HH:mm:ss, unset keys omitted")
    func getUser() async throws {
        try await withServer { server in
            let before = nowMillis()
            let reply = try await server.post("/v1/users/", #"[{"username":"alice","password":"secret1","nickname":"Alice"}]"#)
            let after = nowMillis()
            #expect(reply.status == .created)

            let got = try await server.get("/v1/users/alice")
            #expect(got.status == .ok)
            #expect(got.headers[.contentType]?.hasPrefix("application/json") == true)
            let user = try got.json()
            #expect(user.sortedKeys == ["ctime", "mtime", "nickname", "username"])
            #expect(user["username"] == "alice")
            #expect(user["nickname"] == "Alice")
            for key in ["ctime", "mtime"] {
                let text = try #require(user[key]?.stringValue)
                #expect(text.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/) != nil, "\(key): \(text)")
                let millis = try #require(WireClock.parseMillis(text))
                #expect(millis >= before / 1000 * 1000 && millis <= after, "\(key): \(text)")
            }
        }
    }

    @Test("GET a user with only a username: no profile keys at all")
    func getBareUser() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            let user = try await server.get("/v1/users/alice").json()
            #expect(user.sortedKeys == ["ctime", "mtime", "username"])
            #expect(user["password"] == nil)
        }
    }

    @Test("every profile field round-trips")
    func fullProfile() async throws {
        try await withServer { server in
            let reply = try await server.post("/v1/users/", #"""
                [{"username":"alice","password":"secret1","nickname":"Alice","avatar":"qiniu/image/j/A.png",
                  "birthday":"1990-01-24","gender":2,"signature":"hello","region":"Shenzhen","address":"Nanshan",
                  "extras":{"level":3,"tags":["a","b"]}}]
                """#)
            #expect(try reply.json() == [["username": "alice"]])
            let user = try await server.get("/v1/users/alice").json()
            #expect(user.sortedKeys == ["address", "avatar", "birthday", "ctime", "extras", "gender", "mtime", "nickname",
                                        "region", "signature", "username"])
            #expect(user["avatar"] == "qiniu/image/j/A.png")
            #expect(user["birthday"] == "1990-01-24")
            #expect(user["gender"] == 2)
            #expect(user["signature"] == "hello")
            #expect(user["region"] == "Shenzhen")
            #expect(user["address"] == "Nanshan")
            #expect(user["extras"] == ["level": 3, "tags": ["a", "b"]])
        }
    }

    @Test("GET a user whose name is percent-encoded in the path")
    func percentEncodedPath() async throws {
        try await withServer { server in
            try await server.registerUsers(["a@b.c"])
            #expect(try await server.get("/v1/users/a@b.c").json()["username"] == "a@b.c")
            #expect(try await server.get("/v1/users/a%40b.c").json()["username"] == "a@b.c")
            #expect(try await server.get("/v2/users/a%40b.c/messages?\(WireClock.window(count: 10))").status == .ok)
        }
    }

    @Test("GET an unknown user: 404 899002")
    func unknownUser() async throws {
        try await withServer { server in
            expectError(try await server.get("/v1/users/nobody"), status: .notFound, code: 899002,
                        messageContains: "nobody")
        }
    }
}
