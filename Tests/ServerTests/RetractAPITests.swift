import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// POST /v1/messages/{username}/{msgid}/retract, with the hub's clock moved by hand.
@Suite struct RetractAPITests {
    func withPeople<T: Sendable>(_ test: @Sendable (TestServer, ManualClock) async throws -> T) async throws -> T {
        let clock = ManualClock()
        return try await withServer(apps: Apps.settings, clock: clock) { server in
            try await server.registerAdmin("admin1")
            try await server.registerAdmin("admin2")
            try await server.registerUsers(["alice", "bobby"])
            return try await test(server, clock)
        }
    }

    @Test("retracting within 3 minutes: 204; the message leaves the inbox and the history; both sides get an event")
    func retract() async throws {
        try await withPeople { server, clock in
            let sent = try await server.sendText(from: "admin1", to: "alice", "oops")
            let kept = try await server.sendText(from: "admin1", to: "alice", "fine")
            clock.advance(millis: Hub.retractWindowMillis)
            let reply = try await server.post("/v1/messages/admin1/\(sent.msgID)/retract", nil)
            #expect(reply.status == .noContent, "\(reply)")
            #expect(reply.text.isEmpty)

            #expect(try await server.messages(of: "alice").map(\.message.msgID) == [kept.msgID])
            let aliceEvents = try await server.events(of: "alice")
            #expect(aliceEvents.map(\.kind) == [.messageRetracted])
            #expect(aliceEvents.first?.msgID == sent.msgID)
            #expect(aliceEvents.first?.by == "admin1")
            #expect(try await server.events(of: "admin1").map(\.msgID) == [sent.msgID])

            let history = try await server.get("/v2/messages?\(WireClock.window(count: 100))").json()
            #expect(history["messages"]?.arrayValue?.map { $0["msgid"]?.intValue } == [kept.msgID])
        }
    }

    @Test("855001 after 3 minutes, 855002 not the sender, 855003 unknown, 855004 twice")
    func errors() async throws {
        try await withPeople { server, clock in
            let old = try await server.sendText(from: "admin1", to: "alice", "old")
            clock.advance(millis: Hub.retractWindowMillis + 1)
            let fresh = try await server.sendText(from: "admin1", to: "alice", "fresh")
            expectError(try await server.post("/v1/messages/admin1/\(old.msgID)/retract", nil), status: .badRequest,
                        code: 855001)
            expectError(try await server.post("/v1/messages/admin2/\(fresh.msgID)/retract", nil), status: .badRequest,
                        code: 855002)
            expectError(try await server.post("/v1/messages/alice/\(fresh.msgID)/retract", nil), status: .badRequest,
                        code: 855002)
            expectError(try await server.post("/v1/messages/admin1/\(fresh.msgID + 1000)/retract", nil),
                        status: .badRequest, code: 855003)
            #expect(try await server.post("/v1/messages/admin1/\(fresh.msgID)/retract", nil).status == .noContent)
            expectError(try await server.post("/v1/messages/admin1/\(fresh.msgID)/retract", nil), status: .badRequest,
                        code: 855004)
            expectError(try await server.post("/v1/messages/ghost1/\(fresh.msgID)/retract", nil), status: .notFound,
                        code: 899002)
            expectError(try await server.post("/v1/messages/admin1/abc/retract", nil), status: .badRequest,
                        code: 899003, messagePrefix: "msgid")
            // The late message is still there; the retracted one is not.
            #expect(try await server.messages(of: "alice").map(\.message.msgID) == [old.msgID])
        }
    }

    @Test("a user's group message, retracted: every member that holds it gets the event with the gid")
    func groupRetract() async throws {
        try await withPeople { server, _ in
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let sent = try await server.userSends("to all", from: "alice", to: String(gid), type: .group)
            #expect(try await server.messages(of: "bobby").count == 1)
            #expect(try await server.post("/v1/messages/alice/\(sent.msgID)/retract", nil).status == .noContent)
            #expect(try await server.messages(of: "bobby").isEmpty)
            let event = try #require(try await server.events(of: "bobby").last)
            #expect(event.kind == .messageRetracted)
            #expect(event.gid == gid)
            #expect(event.msgID == sent.msgID)
            let groupHistory = try await server.get("/v2/groups/\(gid)/messages?\(WireClock.window(count: 10))").json()
            #expect(groupHistory["messages"] == .array([]))
        }
    }

    @Test("another app cannot retract this app's messages (855003, as if unknown); wrong secret 401")
    func isolation() async throws {
        try await withPeople { server, _ in
            try await server.registerAdmin("admin1", as: .other)
            let sent = try await server.sendText(from: "admin1", to: "alice", "mine")
            let reply = try await server.post("/v1/messages/admin1/\(sent.msgID)/retract", nil, as: .other)
            #expect(reply.status != .noContent, "\(reply)")
            expectError(reply, status: .badRequest, code: 855003)
            expectError(try await server.post("/v1/messages/admin1/\(sent.msgID)/retract", nil,
                                              as: .app(Apps.appKey, "bad")), status: .unauthorized, code: 899008)
            #expect(try await server.messages(of: "alice").count == 1)
        }
    }
}
