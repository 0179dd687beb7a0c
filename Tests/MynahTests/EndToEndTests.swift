import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Mynah

/// The walking skeleton end to end: the daemon's services on port 0, real WebSockets and HTTP on loopback,
/// a real SQLite file per test.
@Suite struct EndToEndTests {
    @Test func userChatsWithTheEchoRobotOverTheGateway() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let sent = try await alice.send(.init(targetID: "echo_bot", body: .text("ping me")))
            #expect(sent.msgID > 0)

            let reply = try await alice.messages.first()
            let m = reply.stored.message
            #expect(m.fromType == .robot)
            #expect(m.fromID == "echo_bot")
            #expect(m.targetID == "alice")
            #expect(m.body == .text("ping me"))
            #expect(reply.seq == 1)
            #expect(reply.stored.msgID > sent.msgID)
            alice.ack(reply.seq)
            alice.close()
        }
    }

    @Test func adminMessageToTheRobotIsAnsweredAndBothAreInTheHistory() async throws {
        // The README's curl tour, over real HTTP.
        try await Demo.withDaemon { daemon, port in
            let rest = REST(port: port)
            let users = try await rest.call("POST", "/v1/users/", body: #"[{"username":"alice","password":"alice-pass"}]"#)
            #expect(users.status == 201)
            let admin = try await rest.call("POST", "/v1/admins/", body: #"{"username":"ops_admin","password":"admin-pass"}"#)
            #expect(admin.status == 201)

            // Listen as the admin so the robot's answer can be awaited without polling.
            let adminClient = try await Demo.client(port: port, username: "ops_admin", password: "admin-pass")
            let send = try await rest.call("POST", "/v1/messages", body: """
                {"version":1,"target_type":"single","target_id":"echo_bot","from_type":"admin","from_id":"ops_admin",
                 "msg_type":"text","msg_body":{"text":"Hello, echo!"}}
                """)
            #expect(send.status == 201)
            let msgID = try #require(send.json?["msg_id"]?.intValue)
            let reply = try await adminClient.messages.first()
            #expect(reply.stored.message.fromType == .robot)
            #expect(reply.stored.message.body.text == "Hello, echo!")
            adminClient.close()

            let now = Date()
            let range = Self.range(around: now)
            let history = try await rest.call("GET", "/v2/users/ops_admin/messages?count=10&\(range)")
            #expect(history.status == 200)
            let messages = try #require(history.json?["messages"].flatMap { v -> [JSONValue]? in
                if case .array(let a) = v { return a }
                return nil
            })
            #expect(messages.count == 2)
            #expect(messages.first?["msgid"]?.intValue == msgID)
            #expect(messages.first?["from_type"]?.stringValue == "admin")
            #expect(messages.last?["from_type"]?.stringValue == "robot")
            #expect(messages.last?["msg_body"]?["text"]?.stringValue == "Hello, echo!")
        }
    }

    @Test func acceptedMessagesSurviveARestart() async throws {
        let dir = try TemporaryDirectory()
        var ids: [Int64] = []
        do {
            let daemon = try await Demo.daemon(dir)
            ids = try await daemon.withRunning { port in
                try await Demo.register(daemon, "alice", password: "alice-pass")
                try await Demo.register(daemon, "bob_b", password: "bob-pass")
                let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
                var ids: [Int64] = []
                for i in 1...5 {
                    ids.append(try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))).msgID)
                }
                alice.close()
                return ids
            }
        }
        // A new daemon on the same data directory: bob was offline and gets everything, in order.
        let expected = ids
        let daemon = try await Demo.daemon(dir)
        try await daemon.withRunning { port in
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            var iterator = bob.messages.makeAsyncIterator()
            var got: [Int64] = []
            for seq in 1...5 {
                let d = try #require(await iterator.next())
                #expect(d.seq == Int64(seq))
                #expect(d.stored.message.body.text == "m\(seq)")
                got.append(d.stored.msgID)
            }
            #expect(got == expected)
            bob.close()

            let rest = REST(port: port)
            let history = try await rest.call("GET", "/v2/users/alice/messages?count=100&\(Self.range(around: Date()))")
            #expect(history.json?["total"]?.intValue == 5)
        }
    }

    @Test func acknowledgedEntriesAreNotDeliveredAgain() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            for i in 1...3 { _ = try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))) }

            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            var iterator = bob.messages.makeAsyncIterator()
            for _ in 1...2 { _ = try #require(await iterator.next()) }
            bob.ack(2)
            // A ping round trip would not prove the ack landed; a second send and its delivery orders it.
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("m4")))
            #expect(try #require(await iterator.next()).seq == 3)
            #expect(try #require(await iterator.next()).seq == 4)
            bob.close()
            // Wait until the server has the ack stored: the cursor is read at login.
            while try await daemon.hub.cursor(userID: daemon.hub.user(appKey: Demo.appKey, username: "bob_b").id,
                                              device: "default") < 2 {
                await Task.yield()
            }

            let again = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            var it2 = again.messages.makeAsyncIterator()
            #expect(try #require(await it2.next()).seq == 3)
            #expect(try #require(await it2.next()).seq == 4)
            again.close()
            alice.close()
        }
    }

    @Test func wrongPasswordIsAFatalLoginError() async throws {
        try await Demo.withDaemon { daemon, port in
            await #expect(throws: IMClient.Failure.rejected(.init(code: .authenticationFailed,
                                                                 message: "wrong username or password", fatal: true))) {
                _ = try await Demo.client(port: port, username: "echo_bot", password: "not-the-password")
            }
        }
    }

    @Test func onlyTheLoggedInAccountIsTheSender() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            _ = try await alice.send(.init(targetID: "bob_b", fromName: "Alice", body: .text("hi")))
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            let d = try await bob.messages.first()
            #expect(d.stored.message.fromID == "alice")
            #expect(d.stored.message.fromType == .user)
            #expect(d.stored.message.fromAppKey == Demo.appKey)
            await #expect(throws: IMClient.Failure.self) {
                _ = try await alice.send(.init(targetID: "nobody_here", body: .text("hi")))
            }
            alice.close()
            bob.close()
        }
    }

    static func range(around date: Date) -> String {
        func fmt(_ d: Date) -> String {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd HH:mm:ss"
            return f.string(from: d).replacingOccurrences(of: " ", with: "%20")
        }
        return "begin_time=\(fmt(date.addingTimeInterval(-3600)))&end_time=\(fmt(date.addingTimeInterval(3600)))"
    }
}
