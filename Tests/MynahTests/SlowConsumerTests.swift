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

    /// A caught-up session has no delivery task: the bus's calls write live entries to the socket. When the socket
    /// fills, the first entry that cannot be written starts a delivery task, which waits for the client; the
    /// client that reads again gets every entry once, in order. A guard against a hang, not a timing.
    ///
    /// The heartbeat is pushed out of the way: a client that reads nothing cannot answer pings, and the default one
    /// (a ping every 30 s) closes it after 60 s, which the 4,000 sends can take on a loaded machine (a fresh-clone CI
    /// run failed so, with what the socket's buffers held delivered, 313 of 4,000; a 1 s ping interval gives the same
    /// failure at once). That close is the heartbeat's job, tested in HeartbeatTests, not this test's subject.
    @Test(.timeLimit(.minutes(3)))
    func liveEntriesThatFillTheSocketComeOnceInOrderWhenTheClientReadsAgain() async throws {
        let options = Daemon.Options(passwordCost: 4, gateway: .init(pingInterval: .seconds(3600),
                                                                     writeTimeout: .seconds(120)))
        try await Demo.withDaemon(options: options) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let hub = daemon.hub
            let alice = try await hub.user(appKey: Demo.appKey, username: "alice")
            let bob = try HeartbeatTests.SilentPeer(port: port)
            defer { bob.close() }
            try bob.sendText(#"{"op":"login","appkey":"\#(Demo.appKey)","username":"bob_b","password":"bob-pass"}"#)
            let loggedIn = await withCheckedContinuation { c in
                Thread.detachNewThread { c.resume(returning: bob.readUntil("login_ok")) }
            }
            #expect(loggedIn.found, "no login_ok: \(loggedIn.received)")

            // 16 MB of live messages while bob reads nothing: far more than the loopback socket's buffers.
            let count = 4000
            let text = String(repeating: "x", count: 4000)
            for _ in 0..<count {
                _ = try await hub.send(ClientFrame.Send(targetType: .single, targetID: "bob_b", body: .text(text)),
                                       from: alice, platform: "web")
            }
            let seqs = await withCheckedContinuation { c in
                Thread.detachNewThread {
                    var seqs: [Int64] = []
                    while seqs.count < count, let frame = bob.nextText() {
                        guard let json = try? JSONValue.parse(Array(frame.utf8)), json["op"]?.stringValue == "msg"
                        else { continue }
                        seqs.append(json["seq"]?.intValue ?? -1)
                    }
                    c.resume(returning: seqs)
                }
            }
            let outOfOrder = zip(seqs, 1...Int64(count)).first { $0 != $1 }
            let got = "\(seqs.count) of \(count) delivered; first out of order (got, expected): "
                + String(describing: outOfOrder)
            #expect(seqs.count == count && outOfOrder == nil, "\(got)")
        }
    }
}

