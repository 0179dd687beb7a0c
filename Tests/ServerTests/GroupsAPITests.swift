import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// `/v1/groups` and `/v2/groups/{gid}/addMembers|delMembers`, in-app and cross-app.
@Suite struct GroupsAPITests {
    func withPeople<T: Sendable>(apps: [AppSettings] = Apps.settings,
                                 _ test: @Sendable (TestServer) async throws -> T) async throws -> T {
        try await withServer(apps: apps) { server in
            try await server.registerUsers(["alice", "bobby", "carol", "dave1"])
            return try await test(server)
        }
    }

    @Test("POST /v1/groups/: 201 with gid, owner, name, members, MaxMemberCount; members get group_created")
    func create() async throws {
        try await withPeople { server in
            let reply = try await server.post("/v1/groups/", #"""
                {"owner_username":"alice","name":"team","members_username":["bobby","carol"],"desc":"d","flag":1}
                """#)
            #expect(reply.status == .created, "\(reply)")
            let json = try reply.json()
            let gid = try #require(json["gid"]?.intValue)
            #expect(gid > 0)
            #expect(json["owner_username"]?.stringValue == "alice")
            #expect(json["name"]?.stringValue == "team")
            #expect(json["desc"]?.stringValue == "d")
            #expect(json["members_username"] == ["bobby", "carol"])
            #expect(json["MaxMemberCount"]?.intValue == 500)
            for name in ["alice", "bobby", "carol"] {
                let events = try await server.events(of: name)
                #expect(events.map(\.kind) == [.groupCreated], "\(name)")
                #expect(events.first?.gid == gid)
            }
            #expect(try await server.events(of: "dave1").isEmpty)
        }
    }

    @Test("POST /v1/groups/ bad bodies: 899003 naming the field, never a 500", arguments: [
        (#"{"name":"t"}"#, "owner_username"),
        (#"{"owner_username":"alice"}"#, "name"),
        (#"{"owner_username":"alice","name":7}"#, "name"),
        (#"{"owner_username":"alice","name":"t","members_username":"bobby"}"#, "members_username"),
        (#"{"owner_username":"alice","name":"t","members_username":["bobby",3]}"#, "members_username[1]"),
        (#"{"owner_username":"alice","name":"t","flag":3}"#, "flag"),
        (#"{"owner_username":"alice","name":"t","flag":"1"}"#, "flag"),
        (#"{"owner_username":"alice","name":"t","desc":[]}"#, "desc"),
        (#"{"owner_username":"alice","name":"\#(String(repeating: "n", count: 65))"}"#, "name"),
        (#"["alice"]"#, ""),
    ])
    func createBadBodies(_ body: String, _ field: String) async throws {
        try await withPeople { server in
            expectError(try await server.post("/v1/groups/", body), status: .badRequest, code: 899003,
                        messagePrefix: field)
            let list = try await server.get("/v1/groups?start=0&count=10").json()
            #expect(list["total"]?.intValue == 0)
        }
    }

    @Test("POST /v1/groups/: 899002 unknown owner or member; 899012 over the app's max_group_members")
    func createErrors() async throws {
        try await withPeople(apps: [SocialApps.main(maxGroupMembers: 3), SocialApps.other()]) { server in
            expectError(try await server.post("/v1/groups/", #"{"owner_username":"ghost1","name":"t"}"#),
                        status: .notFound, code: 899002, messageContains: "ghost1")
            expectError(try await server.post("/v1/groups/",
                                              #"{"owner_username":"alice","name":"t","members_username":["ghost2"]}"#),
                        status: .notFound, code: 899002, messageContains: "ghost2")
            expectError(try await server.post("/v1/groups/", #"""
                {"owner_username":"alice","name":"t","members_username":["bobby","carol","dave1"]}
                """#), status: .badRequest, code: 899012)
            let gid = try await server.createGroup(owner: "alice", members: ["bobby", "carol"])
            let group = try await server.get("/v1/groups/\(gid)").json()
            #expect(group["MaxMemberCount"]?.intValue == 3)
            expectError(try await server.post("/v2/groups/\(gid)/addMembers", #"["dave1"]"#), status: .badRequest,
                        code: 899012)
            #expect(try await server.get("/v1/groups/\(gid)/members").json().arrayValue?.count == 3)
        }
    }

    @Test("GET /v1/groups/{gid}: 200 with gid, name, desc, appkey, MaxMemberCount, ctime, mtime; 899006 unknown")
    func get() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let reply = try await server.get("/v1/groups/\(gid)")
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            for key in ["gid", "name", "desc", "appkey", "MaxMemberCount", "ctime", "mtime"] {
                #expect(json[key] != nil, "\(key) missing in \(json)")
            }
            #expect(json["gid"]?.intValue == gid)
            #expect(json["appkey"]?.stringValue == Apps.appKey)
            #expect(json["ctime"]?.stringValue.flatMap(WireClock.parseMillis) != nil)
            expectError(try await server.get("/v1/groups/99999"), status: .notFound, code: 899006, messageContains: "99999")
            expectError(try await server.get("/v1/groups/abc"), status: .badRequest, code: 899003, messagePrefix: "gid")
        }
    }

    @Test("PUT /v1/groups/{gid}: 204 and the change is visible; members get group_updated; errors")
    func update() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let reply = try await server.put("/v1/groups/\(gid)", #"{"name":"renamed","desc":"new desc"}"#)
            #expect(reply.status == .noContent, "\(reply)")
            let json = try await server.get("/v1/groups/\(gid)").json()
            #expect(json["name"]?.stringValue == "renamed")
            #expect(json["desc"]?.stringValue == "new desc")
            #expect(try await server.events(of: "bobby").map(\.kind) == [.groupCreated, .groupUpdated])
            expectError(try await server.put("/v1/groups/\(gid)", "{}"), status: .badRequest, code: 899003)
            expectError(try await server.put("/v1/groups/\(gid)", #"{"name":1}"#), status: .badRequest, code: 899003,
                        messagePrefix: "name")
            expectError(try await server.put("/v1/groups/\(gid)", #"{"name":""}"#), status: .badRequest, code: 899003,
                        messagePrefix: "name")
            expectError(try await server.put("/v1/groups/99999", #"{"name":"x"}"#), status: .notFound, code: 899006)
        }
    }

    @Test("DELETE /v1/groups/{gid}: 204, members get group_deleted, then 899006")
    func delete() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let reply = try await server.delete("/v1/groups/\(gid)")
            #expect(reply.status == .noContent, "\(reply)")
            expectError(try await server.get("/v1/groups/\(gid)"), status: .notFound, code: 899006)
            expectError(try await server.delete("/v1/groups/\(gid)"), status: .notFound, code: 899006)
            #expect(try await server.events(of: "bobby").map(\.kind) == [.groupCreated, .groupDeleted])
            #expect(try #require(try await server.get("/v1/users/bobby/groups").json().arrayValue).isEmpty)
        }
    }

    @Test("POST /v1/groups/{gid}/members add/remove: 204; events; 899011 twice, 899014 non-member, 899002 unknown")
    func members() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let reply = try await server.post("/v1/groups/\(gid)/members", #"{"add":["carol","dave1"],"remove":["bobby"]}"#)
            #expect(reply.status == .noContent, "\(reply)")
            let list = try await server.get("/v1/groups/\(gid)/members/")
            #expect(list.status == .ok, "\(list)")
            let members = try #require(try list.json().arrayValue)
            #expect(members.map { $0["username"]?.stringValue } == ["alice", "carol", "dave1"])
            #expect(members.map { $0["flag"]?.intValue } == [1, 0, 0])
            #expect(try await server.events(of: "bobby").map(\.kind) == [.groupCreated, .groupMembersRemoved])
            let carols = try await server.events(of: "carol").map(\.kind)
            #expect(carols.contains(.groupMembersAdded) && !carols.contains(.groupCreated), "\(carols)")
            #expect(try await server.events(of: "alice").map(\.kind)
                    == [.groupCreated, .groupMembersRemoved, .groupMembersAdded])

            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":["carol"]}"#), status: .badRequest,
                        code: 899011)
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"remove":["bobby"]}"#), status: .badRequest,
                        code: 899014)
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":["ghost1"]}"#), status: .notFound,
                        code: 899002, messageContains: "ghost1")
            // Atomic: a failing remove leaves the add undone.
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":["bobby"],"remove":["ghost1"]}"#),
                        status: .notFound, code: 899002)
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":["bobby"],"remove":["bobby"]}"#),
                        status: .badRequest, code: 899014)
            #expect(try await server.get("/v1/groups/\(gid)/members").json().arrayValue?.count == 3)
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":[]}"#), status: .badRequest,
                        code: 899003)
            expectError(try await server.post("/v1/groups/\(gid)/members", #"{"add":"carol"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "add")
            expectError(try await server.post("/v1/groups/99999/members", #"{"add":["bobby"]}"#), status: .notFound,
                        code: 899006)
            expectError(try await server.get("/v1/groups/99999/members"), status: .notFound, code: 899006)
        }
    }

    @Test("POST /v2/groups/{gid}/addMembers and /delMembers: 204; 899011, 899014, 899006, 899003")
    func v2Members() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: [])
            #expect(try await server.post("/v2/groups/\(gid)/addMembers", #"["bobby","carol"]"#).status == .noContent)
            #expect(try await server.post("/v2/groups/\(gid)/delMembers", #"["bobby"]"#).status == .noContent)
            let members = try #require(try await server.get("/v1/groups/\(gid)/members").json().arrayValue)
            #expect(members.map { $0["username"]?.stringValue } == ["alice", "carol"])
            expectError(try await server.post("/v2/groups/\(gid)/addMembers", #"["carol"]"#), status: .badRequest,
                        code: 899011)
            expectError(try await server.post("/v2/groups/\(gid)/delMembers", #"["bobby"]"#), status: .badRequest,
                        code: 899014)
            expectError(try await server.post("/v2/groups/99999/addMembers", #"["bobby"]"#), status: .notFound,
                        code: 899006)
            expectError(try await server.post("/v2/groups/\(gid)/addMembers", #"{"add":["bobby"]}"#), status: .badRequest,
                        code: 899003, messagePrefix: "body")
            let many = JSONValue.array((0..<501).map { .string("user\($0)") })
            expectError(try await server.post("/v2/groups/\(gid)/addMembers", json: many), status: .badRequest,
                        code: 899003, messageContains: "at most 500")
        }
    }

    @Test("GET /v1/groups paged: total, start, count, groups; past the end empty; count over 500 899003")
    func list() async throws {
        try await withPeople { server in
            for i in 0..<3 { _ = try await server.createGroup(owner: "alice", members: [], name: "g\(i)") }
            let reply = try await server.get("/v1/groups/?start=1&count=10")
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json.sortedKeys == ["count", "groups", "start", "total"])
            #expect(json["total"]?.intValue == 3)
            #expect(json["count"]?.intValue == 2)
            #expect(json["groups"]?.arrayValue?.map { $0["name"]?.stringValue } == ["g1", "g2"])
            let past = try await server.get("/v1/groups?start=3&count=10").json()
            #expect(past["total"]?.intValue == 3)
            #expect(past["groups"] == .array([]))
            expectError(try await server.get("/v1/groups?start=0&count=501"), status: .badRequest, code: 899003,
                        messagePrefix: "count")
            expectError(try await server.get("/v1/groups"), status: .badRequest, code: 899003)
        }
    }

    @Test("PUT /v1/groups/messages/{gid}/silence: 204, members see silenced; 899014 non-member; bad status 899003")
    func silence() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let reply = try await server.put("/v1/groups/messages/\(gid)/silence?status=true", #"["bobby"]"#)
            #expect(reply.status == .noContent, "\(reply)")
            let members = try #require(try await server.get("/v1/groups/\(gid)/members").json().arrayValue)
            #expect(members.first { $0["username"]?.stringValue == "bobby" }?["silenced"] == .bool(true))
            #expect(try await server.events(of: "bobby").map(\.kind) == [.groupCreated, .groupMembersSilenced])
            expectError(try await server.put("/v1/groups/messages/\(gid)/silence?status=true", #"["carol"]"#),
                        status: .badRequest, code: 899014)
            expectError(try await server.put("/v1/groups/messages/\(gid)/silence?status=perhaps", #"["bobby"]"#),
                        status: .badRequest, code: 899003, messagePrefix: "status")
            expectError(try await server.put("/v1/groups/messages/\(gid)/silence", #"["bobby"]"#),
                        status: .badRequest, code: 899003, messagePrefix: "status")
            expectError(try await server.put("/v1/groups/messages/99999/silence?status=true", #"["bobby"]"#),
                        status: .notFound, code: 899006)
        }
    }

    @Test("PUT /v1/groups/owner/{gid}: 204 to a member (appkey or appKey); 899014 to a non-member")
    func transferOwner() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby", "carol"])
            let reply = try await server.put("/v1/groups/owner/\(gid)", #"{"username":"bobby","appKey":"\#(Apps.appKey)"}"#)
            #expect(reply.status == .noContent, "\(reply)")
            #expect(try await server.get("/v1/groups/\(gid)").json()["owner_username"]?.stringValue == "bobby")
            let members = try #require(try await server.get("/v1/groups/\(gid)/members").json().arrayValue)
            #expect(members.first?["username"]?.stringValue == "bobby")
            #expect(members.first?["flag"]?.intValue == 1)
            #expect(try await server.put("/v1/groups/owner/\(gid)", #"{"username":"carol"}"#).status == .noContent)
            expectError(try await server.put("/v1/groups/owner/\(gid)", #"{"username":"dave1"}"#), status: .badRequest,
                        code: 899014)
            expectError(try await server.put("/v1/groups/owner/\(gid)", #"{"username":"ghost1"}"#), status: .notFound,
                        code: 899002)
            expectError(try await server.put("/v1/groups/owner/\(gid)", #"{}"#), status: .badRequest, code: 899003,
                        messagePrefix: "username")
            expectError(try await server.put("/v1/groups/owner/99999", #"{"username":"bobby"}"#), status: .notFound,
                        code: 899006)
        }
    }

    @Test("cross-app members: added when the member's app allows the group's app, else 899020; listed with appkey")
    func crossMembers() async throws {
        try await withPeople(apps: [SocialApps.main(), SocialApps.other(crossApp: [Apps.appKey])]) { server in
            try await server.registerUsers(["zed1", "zed2"], as: .other)
            let gid = try await server.createGroup(owner: "alice", members: [])
            let body = #"[{"appkey":"\#(Apps.otherAppKey)","add":["zed1","zed2"]},{"appkey":"\#(Apps.appKey)","add":["bobby"]}]"#
            let reply = try await server.post("/v1/cross/groups/\(gid)/members", body)
            #expect(reply.status == .noContent, "\(reply)")
            let list = try await server.get("/v1/cross/groups/\(gid)/members/")
            #expect(list.status == .ok, "\(list)")
            let members = try #require(try list.json().arrayValue)
            let appKeys = Dictionary(members.map { ($0["username"]?.stringValue ?? "?", $0["appkey"]?.stringValue ?? "?") },
                                     uniquingKeysWith: { a, _ in a })
            #expect(appKeys == ["alice": Apps.appKey, "zed1": Apps.otherAppKey, "zed2": Apps.otherAppKey,
                                "bobby": Apps.appKey])
            #expect(members.count == 4)
            #expect(members.first?["flag"]?.intValue == 1)
            let zedGroups = try #require(try await server.get("/v1/cross/users/zed1/groups", as: .other).json().arrayValue)
            #expect(zedGroups.map { $0["gid"]?.intValue } == [gid])

            // A group of the other app may not take the main app's users: the main app allows nobody.
            let otherGid = try await server.createGroup(owner: "zed1", members: [], as: .other)
            let back = #"[{"appkey":"\#(Apps.appKey)","add":["alice"]}]"#
            expectError(try await server.post("/v1/cross/groups/\(otherGid)/members", back, as: .other),
                        status: .forbidden, code: 899020)
            // Removing members of another app is always allowed.
            let remove = #"[{"appkey":"\#(Apps.otherAppKey)","remove":["zed2"]}]"#
            #expect(try await server.post("/v1/cross/groups/\(gid)/members", remove).status == .noContent)
            expectError(try await server.post("/v1/cross/groups/\(gid)/members", remove), status: .badRequest, code: 899014)
            expectError(try await server.post("/v1/cross/groups/\(gid)/members", #"[{"add":["zed2"]}]"#),
                        status: .badRequest, code: 899003, messagePrefix: "[0].appkey")
            expectError(try await server.post("/v1/cross/groups/\(gid)/members", "[]"), status: .badRequest, code: 899003)
            expectError(try await server.post("/v1/cross/groups/99999/members", body), status: .notFound, code: 899006)
        }
    }

    @Test("another AppKey's secret cannot read or change this app's groups (899006)")
    func isolation() async throws {
        try await withPeople { server in
            try await server.registerUsers(["zed1"], as: .other)
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/groups/\(gid)", nil), (.put, "/v1/groups/\(gid)", #"{"name":"x"}"#),
                (.delete, "/v1/groups/\(gid)", nil), (.post, "/v1/groups/\(gid)/members", #"{"add":["zed1"]}"#),
                (.get, "/v1/groups/\(gid)/members", nil), (.post, "/v2/groups/\(gid)/addMembers", #"["zed1"]"#),
                (.post, "/v2/groups/\(gid)/delMembers", #"["bobby"]"#),
                (.put, "/v1/groups/messages/\(gid)/silence?status=true", #"["bobby"]"#),
                (.put, "/v1/groups/owner/\(gid)", #"{"username":"zed1"}"#),
                (.get, "/v1/cross/groups/\(gid)/members", nil),
                (.post, "/v1/cross/groups/\(gid)/members", #"[{"appkey":"\#(Apps.otherAppKey)","add":["zed1"]}]"#),
            ]
            for (method, path, body) in attempts {
                let reply = try await server.request(method, path, as: .other, body: body)
                expectError(reply, status: .notFound, code: 899006)
            }
            let list = try await server.get("/v1/groups?start=0&count=10", as: .other).json()
            #expect(list["total"]?.intValue == 0)
            let group = try await server.get("/v1/groups/\(gid)").json()
            #expect(group["name"]?.stringValue == "team")
            let members = try #require(try await server.get("/v1/groups/\(gid)/members").json().arrayValue)
            #expect(members.map { $0["username"]?.stringValue } == ["alice", "bobby"])
            #expect(members.allSatisfy { $0["silenced"] == .bool(false) })
        }
    }

    @Test("group endpoints: 401 899008 with a wrong secret")
    func auth() async throws {
        try await withPeople { server in
            let gid = try await server.createGroup(owner: "alice", members: [])
            let wrong = Credentials.app(Apps.appKey, "bad")
            expectError(try await server.post("/v1/groups/", #"{"owner_username":"alice","name":"x"}"#, as: wrong),
                        status: .unauthorized, code: 899008)
            expectError(try await server.get("/v1/groups/\(gid)", as: wrong), status: .unauthorized, code: 899008)
            expectError(try await server.delete("/v1/groups/\(gid)", as: wrong), status: .unauthorized, code: 899008)
            expectError(try await server.get("/v1/groups?start=0&count=1", as: .none), status: .unauthorized, code: 899007)
            #expect(try await server.get("/v1/groups/\(gid)").status == .ok)
        }
    }
}
