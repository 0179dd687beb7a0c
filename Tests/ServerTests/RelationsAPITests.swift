import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// Blacklists, no-disturb, group shields and friends, in-app and cross-app.
@Suite struct RelationsAPITests {
    // MARK: Blacklist

    @Test("blacklist: PUT 204, GET lists, DELETE 204; 899017 twice, 899018 admin, 899019 not listed, 899002 unknown")
    func blacklist() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            try await server.registerAdmin("admin1")
            let put = try await server.put("/v1/users/alice/blacklist", #"["bobby","carol"]"#)
            #expect(put.status == .noContent, "\(put)")
            let get = try await server.get("/v1/users/alice/blacklist")
            #expect(get.status == .ok, "\(get)")
            let names = try #require(try get.json().arrayValue).compactMap { $0["username"]?.stringValue }
            #expect(Set(names) == ["bobby", "carol"])

            expectError(try await server.put("/v1/users/alice/blacklist", #"["bobby"]"#), status: .badRequest, code: 899017)
            expectError(try await server.put("/v1/users/alice/blacklist", #"["admin1"]"#), status: .badRequest,
                        code: 899018, messageContains: "admin1")
            expectError(try await server.put("/v1/users/alice/blacklist", #"["ghost1"]"#), status: .notFound,
                        code: 899002, messageContains: "ghost1")
            expectError(try await server.put("/v1/users/ghost1/blacklist", #"["bobby"]"#), status: .notFound,
                        code: 899002, messageContains: "ghost1")

            let del = try await server.delete("/v1/users/alice/blacklist", #"["bobby"]"#)
            #expect(del.status == .noContent, "\(del)")
            expectError(try await server.delete("/v1/users/alice/blacklist", #"["bobby"]"#), status: .badRequest,
                        code: 899019)
            let after = try #require(try await server.get("/v1/users/alice/blacklist").json().arrayValue)
            #expect(after.compactMap { $0["username"]?.stringValue } == ["carol"])
        }
    }

    @Test("blacklist bodies: not an array, a number inside, empty, over 500 -> 899003 naming the field")
    func blacklistBadBodies() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            expectError(try await server.put("/v1/users/alice/blacklist", #"{"u":"bobby"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "body")
            expectError(try await server.put("/v1/users/alice/blacklist", #"["bobby",1]"#), status: .badRequest,
                        code: 899003, messagePrefix: "body[1]")
            expectError(try await server.put("/v1/users/alice/blacklist", "[]"), status: .badRequest, code: 899003)
            let many = JSONValue.array((0..<501).map { .string("user\($0)") })
            expectError(try await server.put("/v1/users/alice/blacklist", json: many), status: .badRequest, code: 899003,
                        messageContains: "at most 500")
            expectError(try await server.put("/v1/users/alice/blacklist", nil), status: .badRequest, code: 899003)
        }
    }

    @Test("cross-app blacklist: a user of the other app is listed with its appkey")
    func crossBlacklist() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            try await server.registerUsers(["zed1"], as: .other)
            let body = #"[{"appkey":"\#(Apps.otherAppKey)","usernames":["zed1"]}]"#
            let put = try await server.put("/v1/cross/users/alice/blacklist", body)
            #expect(put.status == .noContent, "\(put)")
            let list = try #require(try await server.get("/v1/cross/users/alice/blacklist").json().arrayValue)
            #expect(list.count == 1)
            #expect(list.first?["username"]?.stringValue == "zed1")
            #expect(list.first?["appkey"]?.stringValue == Apps.otherAppKey)
            expectError(try await server.put("/v1/cross/users/alice/blacklist", body), status: .badRequest, code: 899017)
            #expect(try await server.delete("/v1/cross/users/alice/blacklist", body).status == .noContent)
            expectError(try await server.delete("/v1/cross/users/alice/blacklist", body), status: .badRequest, code: 899019)
            expectError(try await server.put("/v1/cross/users/alice/blacklist", #"[{"usernames":["zed1"]}]"#),
                        status: .badRequest, code: 899003, messagePrefix: "[0].appkey")
            expectError(try await server.put("/v1/cross/users/alice/blacklist", #"[{"appkey":"nope","usernames":["zed1"]}]"#),
                        status: .badRequest, code: 899009)
            expectError(try await server.put("/v1/cross/users/alice/blacklist", #"{"appkey":"x"}"#),
                        status: .badRequest, code: 899003, messagePrefix: "body")
        }
    }

    // MARK: No-disturb and shields

    @Test("nodisturb: single and global mark deliveries no_notification; removal restores notification")
    func noDisturb() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            let reply = try await server.post("/v1/users/alice/nodisturb", #"{"single":{"add":["bobby"]}}"#)
            #expect(reply.status == .noContent, "\(reply)")
            try await server.userSends("one", from: "bobby", to: "alice")
            try await server.userSends("two", from: "carol", to: "alice")
            var inbox = try await server.messages(of: "alice")
            #expect(inbox.map(\.isQuiet) == [true, false])

            #expect(try await server.post("/v1/users/alice/nodisturb", #"{"global":1}"#).status == .noContent)
            try await server.userSends("three", from: "carol", to: "alice")
            #expect(try await server.post("/v1/users/alice/nodisturb",
                                          #"{"global":0,"single":{"remove":["bobby"]}}"#).status == .noContent)
            try await server.userSends("four", from: "bobby", to: "alice")
            inbox = try await server.messages(of: "alice")
            #expect(inbox.map(\.isQuiet) == [true, false, true, false])
        }
    }

    @Test("nodisturb for a group marks that group's deliveries only")
    func noDisturbGroup() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            let gid = try await server.createGroup(owner: "bobby", members: ["alice", "carol"])
            let reply = try await server.post("/v1/users/alice/nodisturb", #"{"group":{"add":[\#(gid)]}}"#)
            #expect(reply.status == .noContent, "\(reply)")
            try await server.userSends("g", from: "bobby", to: String(gid), type: .group)
            #expect(try await server.messages(of: "alice").map(\.isQuiet) == [true])
            #expect(try await server.messages(of: "carol").map(\.isQuiet) == [false])
        }
    }

    @Test("nodisturb errors: unknown user 899002, unknown gid 899006, bad types 899003 naming the field")
    func noDisturbErrors() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"single":{"add":["ghost1"]}}"#),
                        status: .notFound, code: 899002, messageContains: "ghost1")
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"group":{"add":[99999]}}"#),
                        status: .notFound, code: 899006)
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"global":2}"#), status: .badRequest,
                        code: 899003, messagePrefix: "global")
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"global":"yes"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "global")
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"single":[1]}"#), status: .badRequest,
                        code: 899003, messagePrefix: "single")
            expectError(try await server.post("/v1/users/alice/nodisturb", #"{"group":{"add":["x"]}}"#),
                        status: .badRequest, code: 899003, messagePrefix: "group.add[0]")
            expectError(try await server.post("/v1/users/ghost1/nodisturb", #"{"global":1}"#), status: .notFound,
                        code: 899002)
        }
    }

    @Test("cross nodisturb: a user of another app stops notifying")
    func crossNoDisturb() async throws {
        try await withServer(apps: [SocialApps.main(crossApp: [Apps.otherAppKey]), SocialApps.other()]) { server in
            try await server.registerUsers(["alice"])
            try await server.registerUsers(["zed1"], as: .other)
            let body = #"[{"appkey":"\#(Apps.otherAppKey)","single":{"add":["zed1"]}}]"#
            let reply = try await server.post("/v1/cross/users/alice/nodisturb", body)
            #expect(reply.status == .noContent, "\(reply)")
            try await server.userSends("x", from: "zed1", fromAppKey: Apps.otherAppKey, to: "alice",
                                       targetAppKey: Apps.appKey)
            #expect(try await server.messages(of: "alice").map(\.isQuiet) == [true])
            expectError(try await server.post("/v1/cross/users/alice/nodisturb", #"[{"single":{"add":["zed1"]}}]"#),
                        status: .badRequest, code: 899003, messagePrefix: "[0].appkey")
            expectError(try await server.post("/v1/cross/users/alice/nodisturb", "[]"), status: .badRequest, code: 899003)
        }
    }

    @Test("groupsShield: a shielded group's messages do not reach the user; lifted, they do again")
    func groupsShield() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            let gid = try await server.createGroup(owner: "bobby", members: ["alice", "carol"])
            let reply = try await server.post("/v1/users/alice/groupsShield", #"{"add":[\#(gid)]}"#)
            #expect(reply.status == .noContent, "\(reply)")
            try await server.userSends("one", from: "bobby", to: String(gid), type: .group)
            #expect(try await server.messages(of: "alice").isEmpty)
            #expect(try await server.messages(of: "carol").count == 1)
            #expect(try await server.post("/v1/users/alice/groupsShield", #"{"remove":["\#(gid)"]}"#).status == .noContent)
            try await server.userSends("two", from: "bobby", to: String(gid), type: .group)
            #expect(try await server.messages(of: "alice").count == 1)

            try await server.registerUsers(["dave"])
            expectError(try await server.post("/v1/users/dave/groupsShield", #"{"add":[\#(gid)]}"#), status: .badRequest,
                        code: 899014)
            expectError(try await server.post("/v1/users/alice/groupsShield", #"{"add":[99999]}"#), status: .notFound,
                        code: 899006)
            expectError(try await server.post("/v1/users/alice/groupsShield", #"{"add":"x"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "add")
            expectError(try await server.post("/v1/users/alice/groupsShield", #"{"add":[-1]}"#), status: .badRequest,
                        code: 899003, messagePrefix: "add[0]")
        }
    }

    // MARK: Friends

    @Test("friends: POST 201, GET lists with note_name/others/appkey, PUT notes 204, DELETE 204; 899070/899071")
    func friends() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            let add = try await server.post("/v1/users/alice/friends", #"["bobby","carol"]"#)
            #expect(add.status == .created, "\(add)")
            expectError(try await server.post("/v1/users/alice/friends", #"["bobby"]"#), status: .badRequest, code: 899070)
            // Friendship goes both ways.
            let bobs = try #require(try await server.get("/v1/users/bobby/friends").json().arrayValue)
            #expect(bobs.compactMap { $0["username"]?.stringValue } == ["alice"])

            let notes = try await server.put("/v1/users/alice/friends",
                                             #"[{"username":"bobby","note_name":"Bob","others":"school"}]"#)
            #expect(notes.status == .noContent, "\(notes)")
            let get = try await server.get("/v1/users/alice/friends")
            #expect(get.status == .ok, "\(get)")
            let list = try #require(try get.json().arrayValue)
            let bob = try #require(list.first { $0["username"]?.stringValue == "bobby" })
            #expect(bob["note_name"]?.stringValue == "Bob")
            #expect(bob["others"]?.stringValue == "school")
            #expect(bob["appkey"]?.stringValue == Apps.appKey)
            #expect(list.count == 2)

            let del = try await server.delete("/v1/users/alice/friends", #"["bobby"]"#)
            #expect(del.status == .noContent, "\(del)")
            expectError(try await server.delete("/v1/users/alice/friends", #"["bobby"]"#), status: .badRequest,
                        code: 899071)
            expectError(try await server.put("/v1/users/alice/friends", #"[{"username":"bobby","note_name":"B"}]"#),
                        status: .badRequest, code: 899071)
            #expect(try #require(try await server.get("/v1/users/bobby/friends").json().arrayValue).isEmpty)
            expectError(try await server.post("/v1/users/alice/friends", #"["ghost1"]"#), status: .notFound, code: 899002)
            expectError(try await server.put("/v1/users/alice/friends", #"[{"note_name":"B"}]"#), status: .badRequest,
                        code: 899003, messagePrefix: "[0].username")
            expectError(try await server.put("/v1/users/alice/friends", #"[{"username":"carol","note_name":7}]"#),
                        status: .badRequest, code: 899003, messagePrefix: "[0].note_name")
            expectError(try await server.post("/v1/users/alice/friends", #"[true]"#), status: .badRequest, code: 899003,
                        messagePrefix: "body[0]")
        }
    }

    @Test("cross friends: allowed by the other app's cross_app list, refused with 899020 otherwise")
    func crossFriends() async throws {
        // The other app allows the main app; the main app does not allow the other one.
        try await withServer(apps: [SocialApps.main(), SocialApps.other(crossApp: [Apps.appKey])]) { server in
            try await server.registerUsers(["alice"])
            try await server.registerUsers(["zed1"], as: .other)
            let body = #"{"appkey":"\#(Apps.otherAppKey)","users":["zed1"]}"#
            let add = try await server.post("/v1/cross/users/alice/friends", body)
            #expect(add.status == .created, "\(add)")
            let list = try #require(try await server.get("/v1/users/alice/friends").json().arrayValue)
            #expect(list.first?["appkey"]?.stringValue == Apps.otherAppKey)
            // zed1 may not befriend a user of the main app: that app's cross_app list is empty.
            let back = #"{"appkey":"\#(Apps.appKey)","users":["alice"]}"#
            expectError(try await server.post("/v1/cross/users/zed1/friends", back, as: .other), status: .forbidden,
                        code: 899020)
            #expect(try await server.delete("/v1/cross/users/alice/friends", body).status == .noContent)
            expectError(try await server.delete("/v1/cross/users/alice/friends", body), status: .badRequest, code: 899071)
            expectError(try await server.post("/v1/cross/users/alice/friends", #"{"users":["zed1"]}"#),
                        status: .badRequest, code: 899003, messagePrefix: "appkey")
            expectError(try await server.post("/v1/cross/users/alice/friends", #"{"appkey":"\#(Apps.otherAppKey)"}"#),
                        status: .badRequest, code: 899003, messagePrefix: "users")
            expectError(try await server.post("/v1/cross/users/alice/friends",
                                              #"{"appkey":"\#(Apps.otherAppKey)","users":"zed1"}"#),
                        status: .badRequest, code: 899003, messagePrefix: "users")
        }
    }

    @Test("relations endpoints: wrong secret 401 899008; another app cannot touch this app's users", arguments: [
        ("PUT", "/v1/users/alice/blacklist", #"["bobby"]"#), ("GET", "/v1/users/alice/blacklist", nil),
        ("POST", "/v1/users/alice/nodisturb", #"{"global":1}"#), ("POST", "/v1/users/alice/groupsShield", #"{"add":[]}"#),
        ("POST", "/v1/users/alice/friends", #"["bobby"]"#), ("GET", "/v1/users/alice/friends", nil),
        ("PUT", "/v1/cross/users/alice/blacklist", #"[{"appkey":"x","usernames":["bobby"]}]"#),
        ("POST", "/v1/cross/users/alice/friends", #"{"appkey":"x","users":["bobby"]}"#),
    ] as [(String, String, String?)])
    func authAndIsolation(_ method: String, _ path: String, _ body: String?) async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let m = HTTPRequest.Method(rawValue: method)!
            expectError(try await server.request(m, path, as: .app(Apps.appKey, "nope"), body: body), status: .unauthorized,
                        code: 899008)
            expectError(try await server.request(m, path, as: .other, body: body), status: .notFound, code: 899002,
                        messageContains: "alice")
        }
    }
}
