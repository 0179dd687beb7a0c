import Foundation
import Hub
import IMClient
import IMProtocol
import Server
import Testing
@testable import Mynah

/// A client that stops reading is disconnected once its send buffer (the socket's buffers) stays full, others
/// keep receiving, and the slow one later resumes from its cursor without losing anything.
@Suite struct SlowConsumerTests {
    /// A guard against a hang, not a timing: reading 20 MB back in a debug build beside the whole suite (a fresh-clone
    /// CI run) took over a minute.
    @Test(.timeLimit(.minutes(3)))
    func aClientThatDoesNotReadIsDisconnectedAndResumesLater() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4, gateway: .init(writeTimeout: .seconds(1)))) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            try await Demo.register(daemon, "carol", password: "carol-pass")
            let hub = daemon.hub
            let bob = try await hub.user(appKey: Demo.appKey, username: "bob_b")
            let carol = try await hub.user(appKey: Demo.appKey, username: "carol")
            // A backlog far larger than the socket buffers: 5,000 entries of a 4 KB message, in one transaction.
            let backlog = 5000
            let message = Message(targetType: .single, targetID: "bob_b", fromType: .user, fromID: "carol",
                                  fromAppKey: Demo.appKey, fromPlatform: "web", createTime: hub.now() / 1000,
                                  body: .text(String(repeating: "x", count: 4000)))
            _ = try await hub.store.append(PendingMessage(
                message: message, senderUserID: carol.id, requestID: nil,
                recipients: Array(repeating: bob.id, count: backlog), now: hub.now()))

            // Bob logs in and never reads.
            let silent = try HeartbeatTests.SilentPeer(port: port)
            defer { silent.close() }
            try silent.sendText(#"{"op":"login","appkey":"\#(Demo.appKey)","username":"bob_b","password":"bob-pass"}"#)

            // Alice is not slowed by him.
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let sender = try await Demo.client(port: port, username: "carol", password: "carol-pass")
            _ = try await sender.send(.init(targetID: "alice", body: .text("for a fast reader")))
            #expect(try await alice.messages.first().stored.message.body.text == "for a fast reader")

            // The server gives up on bob once a write has waited 1 s (long enough that a loaded machine does not stall
            // the fast readers that long).
            while true {
                let sessions = hub.presence.sessions(userID: bob.id)
                let recorded = try await hub.userStat(appKey: Demo.appKey, username: "bob_b").login
                if recorded && sessions.isEmpty { break }
                await Task.yield()
            }

            // Bob comes back as a reading client and gets everything after his cursor, once, in order. (On a starved
            // machine the reader itself may be too slow for the 1 s write timeout: it then resumes from what it got.)
            var next: Int64 = 1
            while next <= Int64(backlog) {
                let reader = try await Demo.client(port: port, username: "bob_b", password: "bob-pass", since: next - 1)
                var inbox = reader.messages.makeAsyncIterator()
                while next <= Int64(backlog), let d = await inbox.next() {
                    #expect(d.seq == next)
                    if d.seq != next { return }
                    next += 1
                }
                reader.close()
            }
            alice.close()
            sender.close()
        }
    }
}
