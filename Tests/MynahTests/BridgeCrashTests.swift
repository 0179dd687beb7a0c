import Foundation
import IMClient
import IMProtocol
import Testing
import MynahTesting

/// The daemon as a child process, killed with SIGKILL in the middle of a burst of pushes: every push answered
/// 200 reaches the account exactly once after a restart, and a retry with its `cid` gets the same msg_id.
@Suite struct BridgeCrashTests {
    static func writeConfig(_ dir: TemporaryDirectory) throws -> String {
        try CrashRecoveryTests.writeConfig(dir, extra: """
            bridge:
              rules:
                - name: demo
                  push_appkey: \(Demo.appKey)
                  alias: "uid_{username}"
                  robot: notify_bot
            """)
    }

    static func push(_ port: Int, _ i: Int) async throws -> Int64? {
        let body = BridgeDemo.alert("p\(i)", aliases: ["uid_alice"], cid: "c\(i)").serializedString()
        let (status, json) = try await REST(port: port).call("POST", "/v3/push", body: body)
        guard status == 200 else { return nil }
        return json?["msg_id"]?.stringValue.flatMap { Int64($0) }
    }

    @Test func everyAcceptedPushSurvivesSIGKILLAndArrivesExactlyOnce() async throws {
        let dir = try TemporaryDirectory()
        let config = try Self.writeConfig(dir)
        let first = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
        let registered = try await REST(port: first.port).call("POST", "/v1/users/", body: """
            [{"username":"alice","password":"alice-pass"}]
            """)
        #expect(registered.status == 201)

        let burst = 200
        let killAfter = 60
        let port = first.port
        let accepted = await CrashRecoveryTests.burst(burst, killing: first, after: killAfter) { i in
            try? await Self.push(port, i)
        }
        #expect(accepted.count >= killAfter)

        let second = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
        defer { second.stop() }
        // The server retries every push with its cid: accepted ones keep their msg_id and send nothing new.
        for i in 0..<burst {
            let msgID = try await Self.push(second.port, i)
            #expect(msgID != nil, "retry of c\(i) failed")
            if let earlier = accepted[i] { #expect(msgID == earlier, "c\(i) got a new msg_id") }
        }
        _ = try await BridgeDemo.push(second.port, BridgeDemo.alert("end", aliases: ["uid_alice"]))

        let alice = try await Demo.client(port: second.port, username: "alice", password: "alice-pass")
        var texts: [String] = []
        for await delivery in alice.messages {
            let text = delivery.stored.message.body.text ?? ""
            if text == "end" { break }
            #expect(delivery.stored.message.fromType == .robot)
            texts.append(text)
        }
        alice.close()
        #expect(texts.count == burst)
        #expect(Set(texts) == Set((0..<burst).map { "p\($0)" }), "a push was lost or delivered twice")
    }
}
