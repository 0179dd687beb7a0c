import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// `/v1/sensitiveword`: the word list, the filter's switch, and masking of text messages.
@Suite struct SensitiveWordsAPITests {
    func words(_ server: TestServer, _ query: String = "start=0&count=100") async throws -> [String] {
        let reply = try await server.get("/v1/sensitiveword?\(query)")
        try #require(reply.status == .ok, "\(reply)")
        return try reply.json()["words"]?.arrayValue?.compactMap { $0["word"]?.stringValue } ?? []
    }

    @Test("POST adds, PUT replaces, DELETE removes, GET pages")
    func crud() async throws {
        try await withServer { server in
            let add = try await server.post("/v1/sensitiveword", #"["apple","pear","plum"]"#)
            #expect(add.status == .created, "\(add)")
            #expect(Set(try await words(server)) == ["apple", "pear", "plum"])

            let put = try await server.put("/v1/sensitiveword", #"{"new_word":"grape","old_word":"pear"}"#)
            #expect(put.status == .noContent, "\(put)")
            #expect(Set(try await words(server)) == ["apple", "grape", "plum"])

            let del = try await server.delete("/v1/sensitiveword", #"{"word":"plum"}"#)
            #expect(del.status == .noContent, "\(del)")
            #expect(Set(try await words(server)) == ["apple", "grape"])

            let page = try await server.get("/v1/sensitiveword?start=1&count=1")
            let json = try page.json()
            #expect(json["total"]?.intValue == 2)
            #expect(json["start"]?.intValue == 1)
            #expect(json["count"]?.intValue == 1)
            #expect(json["words"]?.arrayValue?.count == 1)
            let past = try await server.get("/v1/sensitiveword?start=5&count=10").json()
            #expect(past["total"]?.intValue == 2)
            #expect(past["words"] == .array([]))
            #expect(try await server.get("/v1/sensitiveword?start=0&count=2000").status == .ok)
            expectError(try await server.get("/v1/sensitiveword?start=0&count=2001"), status: .badRequest, code: 899003,
                        messagePrefix: "count")
            expectError(try await server.get("/v1/sensitiveword"), status: .badRequest, code: 899003)
        }
    }

    @Test("errors: 899003 for unknown words, too-long words, wrong types and lists over 100")
    func errors() async throws {
        try await withServer { server in
            _ = try await server.post("/v1/sensitiveword", #"["apple"]"#)
            expectError(try await server.put("/v1/sensitiveword", #"{"new_word":"x","old_word":"nothere"}"#),
                        status: .badRequest, code: 899003, messagePrefix: "old_word")
            expectError(try await server.put("/v1/sensitiveword", #"{"new_word":"x"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "old_word")
            expectError(try await server.put("/v1/sensitiveword", #"{"old_word":"apple","new_word":"elevenchars"}"#),
                        status: .badRequest, code: 899003, messagePrefix: "new_word")
            expectError(try await server.delete("/v1/sensitiveword", #"{"word":"nothere"}"#), status: .badRequest,
                        code: 899003, messagePrefix: "word")
            expectError(try await server.delete("/v1/sensitiveword", #"{"word":1}"#), status: .badRequest,
                        code: 899003, messagePrefix: "word")
            expectError(try await server.post("/v1/sensitiveword", #"["elevenchars"]"#), status: .badRequest,
                        code: 899003, messageContains: "1 to 10")
            expectError(try await server.post("/v1/sensitiveword", #"["ok",2]"#), status: .badRequest,
                        code: 899003, messagePrefix: "body[1]")
            expectError(try await server.post("/v1/sensitiveword", #"{"word":"x"}"#), status: .badRequest, code: 899003)
            let many = JSONValue.array((0..<101).map { .string("w\($0)") })
            expectError(try await server.post("/v1/sensitiveword", json: many), status: .badRequest, code: 899003,
                        messageContains: "at most 100")
            #expect(try await words(server) == ["apple"])
        }
    }

    @Test("status: PUT ?status=1|0 and GET {status}; a bad status 899003")
    func status() async throws {
        try await withServer { server in
            #expect(try await server.get("/v1/sensitiveword/status").json() == ["status": 0])
            #expect(try await server.put("/v1/sensitiveword/status?status=1", nil).status == .noContent)
            let on = try await server.get("/v1/sensitiveword/status")
            #expect(on.status == .ok, "\(on)")
            #expect(try on.json() == ["status": 1])
            #expect(try await server.put("/v1/sensitiveword/status?status=0", nil).status == .noContent)
            #expect(try await server.get("/v1/sensitiveword/status").json() == ["status": 0])
            expectError(try await server.put("/v1/sensitiveword/status?status=on", nil), status: .badRequest,
                        code: 899003, messagePrefix: "status")
            expectError(try await server.put("/v1/sensitiveword/status", nil), status: .badRequest, code: 899003,
                        messagePrefix: "status")
        }
    }

    @Test("text messages are masked only while the filter is on; custom messages never")
    func masking() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.registerAdmin("admin1")
            _ = try await server.post("/v1/sensitiveword", #"["darn","darnit"]"#)
            try await server.userSends("oh darnit, darn", from: "alice", to: "bobby")
            #expect(try await server.put("/v1/sensitiveword/status?status=1", nil).status == .noContent)
            try await server.userSends("oh darnit, darn", from: "alice", to: "bobby")
            try await server.sendText(from: "admin1", to: "bobby", "darn admin")
            let custom = try await server.post("/v1/messages", json: [
                "version": 1, "target_type": "single", "target_id": "bobby", "from_type": "admin", "from_id": "admin1",
                "msg_type": "custom", "msg_body": ["text": "darn"],
            ])
            #expect(custom.status == .created, "\(custom)")
            // Words added while the filter is on count at once.
            _ = try await server.post("/v1/sensitiveword", #"["oh"]"#)
            try await server.userSends("oh no", from: "alice", to: "bobby")
            #expect(try await server.put("/v1/sensitiveword/status?status=0", nil).status == .noContent)
            try await server.userSends("darn again", from: "alice", to: "bobby")

            let bodies = try await server.messages(of: "bobby").map(\.message.message.body)
            #expect(bodies.count == 6)
            guard bodies.count == 6 else { return }
            #expect(bodies[0] == .text("oh darnit, darn"))
            #expect(bodies[1] == .text("oh ******, ****"))
            #expect(bodies[2] == .text("**** admin"))
            #expect(bodies[3].json == ["text": "darn"])
            #expect(bodies[4] == .text("** no"))
            #expect(bodies[5] == .text("darn again"))
        }
    }

    @Test("each app has its own list and switch")
    func perApp() async throws {
        try await withServer { server in
            _ = try await server.post("/v1/sensitiveword", #"["apple"]"#)
            #expect(try await server.put("/v1/sensitiveword/status?status=1", nil).status == .noContent)
            #expect(try await words(server) == ["apple"])
            let other = try await server.get("/v1/sensitiveword?start=0&count=10", as: .other).json()
            #expect(other["total"]?.intValue == 0)
            #expect(try await server.get("/v1/sensitiveword/status", as: .other).json() == ["status": 0])
            expectError(try await server.delete("/v1/sensitiveword", #"{"word":"apple"}"#, as: .other),
                        status: .badRequest, code: 899003)
            expectError(try await server.get("/v1/sensitiveword/status", as: .app(Apps.appKey, "bad")),
                        status: .unauthorized, code: 899008)
            #expect(try await words(server) == ["apple"])
        }
    }
}
