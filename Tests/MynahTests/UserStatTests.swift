import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
@testable import Mynah

/// `userstat` reflects the gateway sessions of every device of a user.
@Suite struct UserStatTests {
    @Test func userstatFollowsTheDevicesOfAUser() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let rest = REST(port: port)
            let before = try await rest.call("GET", "/v1/users/alice/userstat")
            #expect(before.status == 200)
            #expect(before.json == ["login": false, "online": false])

            var config = IMClient.Configuration(url: "ws://127.0.0.1:\(port)/gateway", appKey: Demo.appKey,
                                                username: "alice", password: "alice-pass", platform: "web",
                                                device: "laptop")
            let laptop = try await IMClient.connect(config).client
            config.platform = "a"
            config.device = "phone"
            let phone = try await IMClient.connect(config).client

            let both = try await rest.call("GET", "/v1/users/alice/userstat")
            #expect(both.json == ["login": true, "online": true])
            let batch = try await rest.call("POST", "/v1/users/userstat", body: #"["alice","nobody_here"]"#)
            #expect(batch.status == 200)
            guard case .array(let rows) = batch.json, rows.count == 2 else {
                Issue.record("expected two rows, got \(String(describing: batch.json))")
                return
            }
            #expect(rows[0] == ["username": "alice", "devices": [
                ["login": true, "online": true, "platform": "web"],
                ["login": true, "online": true, "platform": "a"],
            ]])
            #expect(rows[1]["error"]?["code"] == 899002)

            // Each device gets every message.
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            _ = try await bob.send(.init(targetID: "alice", body: .text("to all devices")))
            #expect(try await laptop.messages.first().stored.message.body.text == "to all devices")
            #expect(try await phone.messages.first().stored.message.body.text == "to all devices")

            phone.close()
            let aliceID = try await daemon.hub.user(appKey: Demo.appKey, username: "alice").id
            while daemon.hub.presence.sessions(userID: aliceID).count > 1 { await Task.yield() }
            let one = try await rest.call("POST", "/v1/users/userstat", body: #"["alice"]"#)
            if case .array(let r) = one.json {
                #expect(r[0]["devices"] == [
                    ["login": true, "online": true, "platform": "web"],
                    ["login": true, "online": false, "platform": "a"],
                ])
            }
            laptop.close()
            bob.close()
        }
    }
}
