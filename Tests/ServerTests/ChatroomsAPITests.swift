import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// `/v1/chatroom`: rooms, their members, who may speak, and online-only delivery.
@Suite struct ChatroomsAPITests {
    func withPeople<T: Sendable>(_ test: @Sendable (TestServer) async throws -> T) async throws -> T {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol", "dave1"])
            try await server.registerAdmin("admin1")
            return try await test(server)
        }
    }

    @Test("POST /v1/chatroom/: 201 {chatroom_id}; the room holds the owner and the members")
    func create() async throws {
        try await withPeople { server in
            let reply = try await server.post("/v1/chatroom/", #"""
                {"owner_username":"alice","name":"lobby","description":"d","members_username":["bobby","carol"]}
                """#)
            #expect(reply.status == .created, "\(reply)")
            let json = try reply.json()
            #expect(json.sortedKeys == ["chatroom_id"])
            let id = try #require(json["chatroom_id"]?.intValue)
            let rooms = try #require(try await server.post("/v1/chatroom/batch", "[\(id)]").json().arrayValue)
            #expect(rooms.count == 1)
            #expect(rooms.first?["name"]?.stringValue == "lobby")
            #expect(rooms.first?["description"]?.stringValue == "d")
            #expect(rooms.first?["owner_username"]?.stringValue == "alice")
            #expect(rooms.first?["total_member_count"]?.intValue == 3)
        }
    }

    @Test("POST /v1/chatroom/ errors: unknown owner or member 899002; bad bodies 899003 naming the field")
    func createErrors() async throws {
        try await withPeople { server in
            expectError(try await server.post("/v1/chatroom/", #"{"owner_username":"ghost1","name":"x"}"#),
                        status: .notFound, code: 899002, messageContains: "ghost1")
            expectError(try await server.post("/v1/chatroom/",
                                              #"{"owner_username":"alice","name":"x","members_username":["ghost2"]}"#),
                        status: .notFound, code: 899002, messageContains: "ghost2")
            expectError(try await server.post("/v1/chatroom/", #"{"name":"x"}"#), status: .badRequest, code: 899003,
                        messagePrefix: "owner_username")
            expectError(try await server.post("/v1/chatroom/", #"{"owner_username":"alice"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "name")
            expectError(try await server.post("/v1/chatroom/", #"{"owner_username":"alice","name":"x","members_username":[1]}"#),
                        status: .badRequest, code: 899003, messagePrefix: "members_username[0]")
            expectError(try await server.post("/v1/chatroom/", #"{"owner_username":"alice","name":"x","description":5}"#),
                        status: .badRequest, code: 899003, messagePrefix: "description")
            expectError(try await server.post("/v1/chatroom/", "[]"), status: .badRequest, code: 899003)
            let list = try await server.get("/v1/chatroom?start=0&count=10").json()
            #expect(list["total"]?.intValue == 0)
        }
    }

    @Test("POST /v1/chatroom/batch: the rooms that exist; bad bodies 899003")
    func batch() async throws {
        try await withPeople { server in
            let a = try await server.createRoom(owner: "alice", members: [])
            let b = try await server.createRoom(owner: "bobby", members: [])
            let reply = try await server.post("/v1/chatroom/batch", "[\(b), 99999, \"\(a)\"]")
            #expect(reply.status == .ok, "\(reply)")
            let rooms = try #require(try reply.json().arrayValue)
            #expect(rooms.map { $0["id"]?.intValue } == [b, a])
            expectError(try await server.post("/v1/chatroom/batch", "[]"), status: .badRequest, code: 899003)
            expectError(try await server.post("/v1/chatroom/batch", #"["x"]"#), status: .badRequest, code: 899003,
                        messagePrefix: "body[0]")
            expectError(try await server.post("/v1/chatroom/batch", #"{"id":1}"#), status: .badRequest, code: 899003,
                        messagePrefix: "body")
        }
    }

    @Test("GET /v1/chatroom paged; past the end empty with the right total; count over 500 899003")
    func list() async throws {
        try await withPeople { server in
            for _ in 0..<3 { _ = try await server.createRoom(owner: "alice", members: []) }
            let reply = try await server.get("/v1/chatroom?start=2&count=5")
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json["total"]?.intValue == 3)
            #expect(json["start"]?.intValue == 2)
            #expect(json["count"]?.intValue == 1)
            #expect(json["rooms"]?.arrayValue?.count == 1)
            let past = try await server.get("/v1/chatroom?start=9&count=5").json()
            #expect(past["total"]?.intValue == 3)
            #expect(past["rooms"] == .array([]))
            expectError(try await server.get("/v1/chatroom?start=0&count=501"), status: .badRequest, code: 899003,
                        messagePrefix: "count")
            expectError(try await server.get("/v1/chatroom?count=5"), status: .badRequest, code: 899003,
                        messagePrefix: "start")
        }
    }

    @Test("PUT and DELETE /v1/chatroom/{id}: 204; 899081 for an unknown room; 899002 unknown new owner")
    func updateDelete() async throws {
        try await withPeople { server in
            let id = try await server.createRoom(owner: "alice", members: ["bobby"])
            let reply = try await server.put("/v1/chatroom/\(id)", #"{"name":"renamed","owner_username":"bobby"}"#)
            #expect(reply.status == .noContent, "\(reply)")
            let room = try #require(try await server.post("/v1/chatroom/batch", "[\(id)]").json().arrayValue?.first)
            #expect(room["name"]?.stringValue == "renamed")
            #expect(room["owner_username"]?.stringValue == "bobby")
            expectError(try await server.put("/v1/chatroom/\(id)", #"{"owner_username":"ghost1"}"#), status: .notFound,
                        code: 899002)
            expectError(try await server.put("/v1/chatroom/\(id)", #"{"name":3}"#), status: .badRequest, code: 899003,
                        messagePrefix: "name")
            expectError(try await server.put("/v1/chatroom/99999", #"{"name":"x"}"#), status: .notFound, code: 899081)

            #expect(try await server.delete("/v1/chatroom/\(id)").status == .noContent)
            expectError(try await server.delete("/v1/chatroom/\(id)"), status: .notFound, code: 899081)
            #expect(try #require(try await server.post("/v1/chatroom/batch", "[\(id)]").json().arrayValue).isEmpty)
        }
    }

    @Test("members: PUT adds, GET pages, DELETE removes; 899082 removing a non-member, 899081 unknown room")
    func members() async throws {
        try await withPeople { server in
            let id = try await server.createRoom(owner: "alice", members: [])
            #expect(try await server.put("/v1/chatroom/\(id)/members", #"["bobby","carol"]"#).status == .noContent)
            let page = try await server.get("/v1/chatroom/\(id)/members?start=0&count=10")
            #expect(page.status == .ok, "\(page)")
            let json = try page.json()
            #expect(json["total"]?.intValue == 3)
            #expect(Set(json["users"]?.arrayValue?.compactMap { $0["username"]?.stringValue } ?? []) == ["alice", "bobby", "carol"])
            let past = try await server.get("/v1/chatroom/\(id)/members?start=3&count=10").json()
            #expect(past["total"]?.intValue == 3)
            #expect(past["users"] == .array([]))

            #expect(try await server.delete("/v1/chatroom/\(id)/members", #"["bobby"]"#).status == .noContent)
            expectError(try await server.delete("/v1/chatroom/\(id)/members", #"["bobby"]"#), status: .badRequest,
                        code: 899082)
            expectError(try await server.delete("/v1/chatroom/\(id)/members", #"["dave1"]"#), status: .badRequest,
                        code: 899082)
            expectError(try await server.put("/v1/chatroom/\(id)/members", #"["ghost1"]"#), status: .notFound, code: 899002)
            expectError(try await server.put("/v1/chatroom/\(id)/members", #"[null]"#), status: .badRequest, code: 899003,
                        messagePrefix: "body[0]")
            expectError(try await server.put("/v1/chatroom/99999/members", #"["bobby"]"#), status: .notFound, code: 899081)
            expectError(try await server.get("/v1/chatroom/99999/members?start=0&count=1"), status: .notFound, code: 899081)
            expectError(try await server.get("/v1/chatroom/\(id)/members?start=0&count=501"), status: .badRequest,
                        code: 899003, messagePrefix: "count")
        }
    }

    @Test("sending to a room: members only (899082), silenced ones refused (847002) until allowed again")
    func sendRules() async throws {
        try await withPeople { server in
            let id = try await server.createRoom(owner: "alice", members: ["bobby"])
            let room = String(id)
            try await server.userSends("hi", from: "bobby", to: room, type: .chatroom)
            await expectHubError(899082) { try await server.userSends("hi", from: "carol", to: room, type: .chatroom) }
            await expectHubError(899081) { try await server.userSends("hi", from: "bobby", to: "99999", type: .chatroom) }

            #expect(try await server.put("/v1/chatroom/\(id)/forbidden/bobby?status=1", nil).status == .noContent)
            await expectHubError(847002) { try await server.userSends("hi", from: "bobby", to: room, type: .chatroom) }
            #expect(try await server.put("/v1/chatroom/\(id)/forbidden/bobby?status=0", nil).status == .noContent)
            try await server.userSends("again", from: "bobby", to: room, type: .chatroom)

            expectError(try await server.put("/v1/chatroom/\(id)/forbidden/carol?status=1", nil), status: .badRequest,
                        code: 899082)
            expectError(try await server.put("/v1/chatroom/\(id)/forbidden/bobby?status=2", nil), status: .badRequest,
                        code: 899003, messagePrefix: "status")
            expectError(try await server.put("/v1/chatroom/99999/forbidden/bobby?status=1", nil), status: .notFound,
                        code: 899081)

            // An admin (through the REST API) needs no membership.
            let body: JSONValue = [
                "version": 1, "target_type": "chatroom", "target_id": .string(room), "from_type": "admin",
                "from_id": "admin1", "msg_type": "text", "msg_body": ["text": "announcement"],
            ]
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
        }
    }

    @Test("a room's messages reach only connected members, never an offline inbox")
    func onlineOnly() async throws {
        try await withPeople { server in
            let id = try await server.createRoom(owner: "alice", members: ["bobby", "carol"])
            let carol = try await server.user("carol")
            let stream = server.hub.bus.subscribe(userID: carol.id)
            try await server.userSends("live", from: "alice", to: String(id), type: .chatroom)
            var iterator = stream.makeAsyncIterator()
            let delivered = await iterator.next()
            #expect(delivered?.stored?.message.body == .text("live"))
            #expect(try await server.messages(of: "carol").count == 1)
            #expect(try await server.messages(of: "bobby").isEmpty)
            #expect(try await server.messages(of: "alice").isEmpty)
        }
    }

    @Test("another app's secret cannot see or change this app's rooms (899081)")
    func isolation() async throws {
        try await withPeople { server in
            try await server.registerUsers(["zed1"], as: .other)
            let id = try await server.createRoom(owner: "alice", members: ["bobby"])
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.put, "/v1/chatroom/\(id)", #"{"name":"x"}"#), (.delete, "/v1/chatroom/\(id)", nil),
                (.get, "/v1/chatroom/\(id)/members?start=0&count=10", nil),
                (.put, "/v1/chatroom/\(id)/members", #"["zed1"]"#), (.delete, "/v1/chatroom/\(id)/members", #"["zed1"]"#),
                (.put, "/v1/chatroom/\(id)/forbidden/zed1?status=1", nil),
            ]
            for (method, path, body) in attempts {
                expectError(try await server.request(method, path, as: .other, body: body), status: .notFound, code: 899081)
            }
            #expect(try #require(try await server.post("/v1/chatroom/batch", "[\(id)]", as: .other).json().arrayValue).isEmpty)
            #expect(try await server.get("/v1/chatroom?start=0&count=10", as: .other).json()["total"]?.intValue == 0)
            expectError(try await server.get("/v1/chatroom?start=0&count=10", as: .app(Apps.appKey, "bad")),
                        status: .unauthorized, code: 899008)
            expectError(try await server.post("/v1/chatroom/", #"{"owner_username":"alice","name":"x"}"#,
                                              as: .app(Apps.appKey, "bad")),
                        status: .unauthorized, code: 899008)
        }
    }
}
