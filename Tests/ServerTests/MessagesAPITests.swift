import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// POST /v1/messages: an admin sends a message.
@Suite struct MessagesAPITests {
    /// A server with admin `admin1` and users `alice`, `bobby`.
    func withPeople<T: Sendable>(_ test: @Sendable (TestServer) async throws -> T) async throws -> T {
        try await withServer { server in
            try await server.registerAdmin("admin1")
            try await server.registerUsers(["alice", "bobby"])
            return try await test(server)
        }
    }

    static let valid = Messages.text(from: "admin1", to: "alice", "hello")

    @Test("an admin sends text to a user: 201 {msg_id, msg_ctime}")
    func adminSendsText() async throws {
        try await withPeople { server in
            let before = nowMillis()
            let reply = try await server.post("/v1/messages", json: Self.valid)
            let after = nowMillis()
            #expect(reply.status == .created, "\(reply)")
            #expect(reply.headers[.contentType]?.hasPrefix("application/json") == true)
            let json = try reply.json()
            #expect(json.sortedKeys == ["msg_ctime", "msg_id"])
            let id = try #require(json["msg_id"]?.intValue)
            let ctime = try #require(json["msg_ctime"]?.intValue)
            #expect(id > 0)
            #expect(ctime >= before && ctime <= after)

            // Ids grow, times never go back.
            let second = try await server.sendText(from: "admin1", to: "bobby", "again")
            #expect(second.msgID > id)
            #expect(second.msgCtime >= ctime)
        }
    }

    @Test("the message lands in the recipient's inbox, as the admin sent it")
    func reachesInbox() async throws {
        try await withPeople { server in
            let body = setting("from_name", to: "The Admin", in: setting("msg_body", to: [
                "text": "hello", "extras": ["k": "v"],
            ], in: Self.valid))
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
            let id = try #require(try reply.json()["msg_id"]?.intValue)

            let alice = try await server.hub.user(appKey: Apps.appKey, username: "alice")
            let inbox = try await server.hub.inbox(userID: alice.id, after: 0)
            try #require(inbox.count == 1)
            let stored = inbox[0].message
            #expect(stored.msgID == id)
            #expect(stored.message.fromID == "admin1")
            #expect(stored.message.fromType == .admin)
            #expect(stored.message.fromName == "The Admin")
            #expect(stored.message.targetID == "alice")
            #expect(stored.message.body == .text("hello", extras: ["k": "v"]))

            let bob = try await server.hub.user(appKey: Apps.appKey, username: "bobby")
            #expect(try await server.hub.inbox(userID: bob.id, after: 0).isEmpty)
        }
    }

    @Test("optional fields of the SDKs are accepted")
    func optionalFields() async throws {
        try await withPeople { server in
            var body = Self.valid
            body = setting("target_appkey", to: .string(Apps.appKey), in: body)
            body = setting("target_name", to: "Alice", in: body)
            body = setting("from_name", to: "Admin", in: body)
            body = setting("no_offline", to: false, in: body)
            body = setting("no_notification", to: true, in: body)
            body = setting("notification", to: ["title": "t", "alert": "a"], in: body)
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
        }
    }

    @Test("a custom message with any object body is accepted")
    func customMessage() async throws {
        try await withPeople { server in
            var body = setting("msg_type", to: "custom", in: Self.valid)
            body = setting("msg_body", to: ["anything": [1, 2, 3], "nested": ["x": true]], in: body)
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
        }
    }

    @Test("from_type other than admin: 403 899016", arguments: ["user", "robot"])
    func fromTypeNotAdmin(_ fromType: String) async throws {
        try await withPeople { server in
            let body = setting("from_type", to: .string(fromType), in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .forbidden, code: 899016,
                        messagePrefix: "from_type")
        }
    }

    @Test("from_id that is a normal user: 403 899016")
    func fromIDNotAdmin() async throws {
        try await withPeople { server in
            let body = setting("from_id", to: "bobby", in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .forbidden, code: 899016,
                        messagePrefix: "from_id")
            let alice = try await server.hub.user(appKey: Apps.appKey, username: "alice")
            #expect(try await server.hub.inbox(userID: alice.id, after: 0).isEmpty)
        }
    }

    @Test("from_id unknown: 404 899002")
    func fromIDUnknown() async throws {
        try await withPeople { server in
            let body = setting("from_id", to: "ghost", in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .notFound, code: 899002,
                        messageContains: "ghost")
        }
    }

    @Test("target unknown: 404 899002")
    func targetUnknown() async throws {
        try await withPeople { server in
            let body = setting("target_id", to: "ghost", in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .notFound, code: 899002,
                        messageContains: "ghost")
        }
    }

    @Test("target in another app without cross-app permission: 403 899020")
    func crossApp() async throws {
        try await withPeople { server in
            try await server.registerUsers(["carol"], as: .other)
            var body = setting("target_appkey", to: .string(Apps.otherAppKey), in: Self.valid)
            body = setting("target_id", to: "carol", in: body)
            expectError(try await server.post("/v1/messages", json: body), status: .forbidden, code: 899020)
            let carol = try await server.hub.user(appKey: Apps.otherAppKey, username: "carol")
            #expect(try await server.hub.inbox(userID: carol.id, after: 0).isEmpty)
        }
    }

    @Test("an empty target_appkey means the sender's app")
    func emptyTargetAppKey() async throws {
        try await withPeople { server in
            let body = setting("target_appkey", to: "", in: Self.valid)
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
        }
    }

    @Test("msg_body without text: 400 899003 'msg_body.text: required'")
    func missingText() async throws {
        try await withPeople { server in
            let body = setting("msg_body", to: ["extras": ["a": 1]], in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .badRequest, code: 899003,
                        message: "msg_body.text: required")
        }
    }

    @Test("a required field missing: 400 899003 '<field>: required'", arguments: [
        "version", "target_type", "target_id", "from_type", "from_id", "msg_type", "msg_body",
    ])
    func missingField(_ field: String) async throws {
        try await withPeople { server in
            let body = setting(field, to: nil, in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .badRequest, code: 899003,
                        message: "\(field): required")
        }
    }

    static let wrongKinds: [(String, JSONValue)] = [
        ("target_type", "everyone"),
        ("target_type", 1),
        ("msg_type", "sticker"),
        ("from_type", "god"),
        ("version", "1"),
        ("version", 1.5),
        ("target_id", ""),
        ("target_id", 42),
        ("from_id", ""),
        ("msg_body", "hello"),
        ("msg_body", ["text": 5]),
        ("no_offline", "yes"),
        ("no_notification", 1),
        ("notification", "alert"),
        ("target_appkey", 5),
    ]

    @Test("a field of the wrong kind: 400 899003 naming it", arguments: wrongKinds)
    func wrongKind(_ field: String, _ value: JSONValue) async throws {
        try await withPeople { server in
            let body = setting(field, to: value, in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .badRequest, code: 899003,
                        messagePrefix: field)
            let alice = try await server.hub.user(appKey: Apps.appKey, username: "alice")
            #expect(try await server.hub.inbox(userID: alice.id, after: 0).isEmpty)
        }
    }

    @Test("version other than 1: 400 899003 naming version", arguments: [0, 2, -1])
    func badVersion(_ version: Int64) async throws {
        try await withPeople { server in
            let body = setting("version", to: .int(version), in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .badRequest, code: 899003,
                        messagePrefix: "version")
        }
    }

    @Test("msg_body of 4096 bytes is accepted, 4097 is 400 899003")
    func bodyLimit() async throws {
        try await withPeople { server in
            // {"text":"..."} is 11 bytes plus the text.
            let fits = setting("msg_body", to: ["text": .string(String(repeating: "a", count: 4085))], in: Self.valid)
            #expect(try await server.post("/v1/messages", json: fits).status == .created)
            let over = setting("msg_body", to: ["text": .string(String(repeating: "a", count: 4086))], in: Self.valid)
            expectError(try await server.post("/v1/messages", json: over), status: .badRequest, code: 899003,
                        messagePrefix: "msg_body")
        }
    }

    @Test("msg_body counts bytes, not characters")
    func bodyLimitBytes() async throws {
        try await withPeople { server in
            // 1500 three-byte characters: 4500 bytes, 1500 characters.
            let body = setting("msg_body", to: ["text": .string(String(repeating: "字", count: 1500))], in: Self.valid)
            expectError(try await server.post("/v1/messages", json: body), status: .badRequest, code: 899003,
                        messagePrefix: "msg_body")
        }
    }

    @Test("a body that is not an object: 400 899003", arguments: ["[]", "\"text\"", "42", "null", ""])
    func notAnObject(_ body: String) async throws {
        try await withPeople { server in
            expectError(try await server.post("/v1/messages", body), status: .badRequest, code: 899003)
        }
    }

    @Test("the SDKs' Content-Type 'application/json;charset:utf-8' is accepted")
    func sdkContentType() async throws {
        try await withPeople { server in
            let reply = try await server.post("/v1/messages", Self.valid.serializedString(),
                                              contentType: "application/json;charset:utf-8")
            #expect(reply.status == .created, "\(reply)")
        }
    }
}
