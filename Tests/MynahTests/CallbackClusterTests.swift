import Foundation
import IMClient
import IMProtocol
import Testing
import MynahTesting

/// Message routing in a cluster: two `mynah run` child processes on one PostgreSQL database, both configured with
/// the same callback. One node routes (the one holding the `callbacks` lease), so each message is posted once; when
/// it is killed with SIGKILL the other takes the lease over and resumes from the shared cursor, losing nothing.
@Suite(.serialized) struct CallbackClusterTests {
    typealias Node = CrashRecoveryTests.DaemonProcess

    /// A node's configuration on the database `url`, with the demo app's messages routed to `hook`.
    static func config(_ dir: TemporaryDirectory, url: String, hook: String) throws -> String {
        let path = try CrashRecoveryTests.writeConfig(dir, extra: """
            storage:
              postgres:
                url: \(url)
                tls: disable
            """)
        let yaml = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: "    master_secret: \(Demo.secret)\n",
            with: """
                    master_secret: \(Demo.secret)
                    callbacks:
                      - url: \(hook)
                        retry: { backoff: 10ms, max_backoff: 50ms }
                        dead_after: 1000
                        batch: { max: 10, wait: 50ms }

                """)
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func oneNodeRoutesEachMessageOnceAndAnotherResumesFromTheSharedCursorWhenItIsKilled() async throws {
        try await TestPostgres.withFreshDatabase { _, url in
            let receiver = RoutingReceiver()
            try await receiver.run { rport in
                let dirA = try TemporaryDirectory(), dirB = try TemporaryDirectory()
                let log = ReceivedLog(receiver)
                // 1. Node A alone: it takes the lease and routes.
                let a = try await Node.start(configPath: try Self.config(dirA, url: url, hook: CallbackTests.hook(rport)))
                defer { if a.process.isRunning { a.stop() } }
                let registered = try await REST(port: a.port).call("POST", "/v1/users/", body: """
                    [{"username":"alice","password":"alice-pass"},{"username":"bob_b","password":"bob-pass"}]
                    """)
                #expect(registered.status == 201)
                let alice = try await Demo.client(port: a.port, username: "alice", password: "alice-pass")
                var sent = [try await alice.send(.init(targetID: "bob_b", body: .text("first"))).msgID]
                _ = try await log.accepted(until: Set(sent))

                // 2. Node B joins with the same callback; messages sent through either node go out once each.
                let b = try await Node.start(configPath: try Self.config(dirB, url: url, hook: CallbackTests.hook(rport)))
                defer { if b.process.isRunning { b.stop() } }
                let bob = try await Demo.client(port: b.port, username: "bob_b", password: "bob-pass")
                for i in 0..<40 {
                    let from = i % 2 == 0 ? alice : bob
                    sent.append(try await from.send(.init(targetID: i % 2 == 0 ? "bob_b" : "alice",
                                                          body: .text("both \(i)"))).msgID)
                }
                let both = try await log.accepted(until: Set(sent))
                #expect(both.firstOccurrences == sent)
                // One node routes: every message is posted once, or, if a loaded machine made node A miss a lease
                // check (it then gives the lease up and B takes over), one batch (at most 10) goes twice. Two nodes
                // routing would post every message after B's start twice.
                #expect(both.count <= sent.count + 10, "\(both.count) posts for \(sent.count) messages")

                // 3. The receiver fails; node A, routing, is killed mid-retry; node B takes the lease and resumes.
                receiver.answer(.fail)
                var waiting: [Int64] = []
                for i in 0..<10 { waiting.append(try await bob.send(.init(targetID: "alice", body: .text("w\(i)"))).msgID) }
                #expect(try await log.next().answer == .fail)
                alice.close()
                a.kill9()
                receiver.answer(.ok)
                sent += waiting
                let all = try await log.accepted(until: Set(sent))
                #expect(all.firstOccurrences == sent)
                let after = try await bob.send(.init(targetID: "alice", body: .text("after"))).msgID
                #expect(try await log.accepted(until: [after]).last == after)
                bob.close()
                withExtendedLifetime((dirA, dirB)) {}
            }
        }
    }
}
