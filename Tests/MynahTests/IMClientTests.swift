import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import Testing
@testable import Mynah

@Suite struct ReconnectPolicyTests {
    @Test func theCeilingDoublesUpToTheCap() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(policy.ceiling(attempt: 1) == .milliseconds(100))
        #expect(policy.ceiling(attempt: 2) == .milliseconds(200))
        #expect(policy.ceiling(attempt: 4) == .milliseconds(800))
        #expect(policy.ceiling(attempt: 5) == .seconds(1))
        #expect(policy.ceiling(attempt: 500) == .seconds(1))
    }

    @Test func delaysAreSpreadBetweenZeroAndTheCeiling() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maxDelay: .seconds(10))
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<200).map { _ in policy.delay(attempt: 3, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        // Full jitter: not all clients wait the same time.
        #expect(Set(delays).count > 100)
    }

    @Test func maxAttemptsStopsRetrying() {
        let policy = ReconnectPolicy(maxAttempts: 3)
        #expect(policy.allows(attempt: 3))
        #expect(!policy.allows(attempt: 4))
        #expect(ReconnectPolicy.standard.allows(attempt: 1_000_000))
    }
}

@Suite struct IMClientReconnectTests {
    static func reconnectingClient(port: Int, username: String, password: String) async throws -> IMClient {
        var logger = Logger(label: "mynah.test.client")
        logger.logLevel = .warning
        return try await IMClient.connect(
            .init(url: "ws://127.0.0.1:\(port)/gateway", appKey: Demo.appKey, username: username, password: password),
            reconnect: .init(initialDelay: .milliseconds(20), maxDelay: .milliseconds(200)),
            logger: logger
        ).client
    }

    @Test func aDroppedConnectionResumesWithoutLossOrRepeats() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let bob = try await Self.reconnectingClient(port: port, username: "bob_b", password: "bob-pass")
            var inbox = bob.messages.makeAsyncIterator()

            _ = try await alice.send(.init(targetID: "bob_b", body: .text("m1")))
            #expect(try #require(await inbox.next()).seq == 1)

            // Bob never acknowledges, so a plain re-login would start at seq 1 again; the client resumes after
            // what it received instead, and drops anything it has seen.
            for round in 0..<3 {
                bob.dropConnection()
                let first = Int64(2 + round * 2)
                _ = try await alice.send(.init(targetID: "bob_b", body: .text("m\(first)")))
                _ = try await alice.send(.init(targetID: "bob_b", body: .text("m\(first + 1)")))
                let a = try #require(await inbox.next())
                let b = try #require(await inbox.next())
                #expect(a.seq == first && a.stored.message.body.text == "m\(first)")
                #expect(b.seq == first + 1 && b.stored.message.body.text == "m\(first + 1)")
            }
            bob.close()
            #expect(await inbox.next() == nil)
            alice.close()
        }
    }

    @Test func sendingWhileDisconnectedFailsAndARetryWithTheSameRequestIDIsNotStoredTwice() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Self.reconnectingClient(port: port, username: "alice", password: "alice-pass")
            let first = try await alice.send(.init(requestID: "once", targetID: "bob_b", body: .text("hi")))
            alice.dropConnection()
            // Whether the reconnect is done or not, a resend with the same request id yields the first msg_id.
            var resent: ServerFrame.Sent?
            while resent == nil {
                do {
                    resent = try await alice.send(.init(requestID: "once", targetID: "bob_b", body: .text("hi")))
                } catch IMClient.Failure.connectionClosed {
                    await Task.yield()
                }
            }
            #expect(resent?.msgID == first.msgID)
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("after")))
            var inbox = bob.messages.makeAsyncIterator()
            #expect(try #require(await inbox.next()).stored.message.body.text == "hi")
            #expect(try #require(await inbox.next()).stored.message.body.text == "after")
            bob.close()
            alice.close()
        }
    }

    @Test func loginOKCarriesATokenThatLogsTheDeviceInWithoutThePassword() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            var logger = Logger(label: "mynah.test.client")
            logger.logLevel = .warning
            let (client, session) = try await IMClient.connect(
                .init(url: "ws://127.0.0.1:\(port)/gateway", appKey: Demo.appKey, username: "alice",
                      password: "alice-pass", device: "phone"), logger: logger)
            client.close()
            let token = try #require(session.token)
            #expect(try #require(session.tokenExpires) > daemon.hub.now())
            for (device, accepted) in [("phone", true), ("tablet", false)] {
                let socket = try await RawWebSocket.connect(port: port)
                let login = ClientFrame.login(.init(appKey: Demo.appKey, username: "alice", password: "", token: token,
                                                    device: device))
                try await socket.send(text: login.json.serializedString())
                let answer = try ServerFrame(json: try #require(try await socket.next()).payload)
                switch answer {
                case .loginOK(let ok): #expect(accepted && ok.username == "alice" && ok.token != nil, "\(device)")
                case .error(let e): #expect(!accepted && e.code == .authenticationFailed, "\(device)")
                default: Issue.record("unexpected \(answer)")
                }
            }
        }
    }

    @Test func aReconnectWhoseTokenIsRefusedLogsInWithThePassword() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let bob = try await Self.reconnectingClient(port: port, username: "bob_b", password: "bob-pass")
            var inbox = bob.messages.makeAsyncIterator()
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("m1")))
            #expect(try #require(await inbox.next()).seq == 1)
            // The same password set again has a new hash: the token of bob's login no longer matches it, so the
            // reconnect's token is refused and the client must log in with the password (else it would stop).
            try await daemon.hub.changePassword(appKey: Demo.appKey, username: "bob_b", to: "bob-pass")
            bob.dropConnection()
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("m2")))
            let next = try #require(await inbox.next())
            #expect(next.seq == 2 && next.stored.message.body.text == "m2")
            bob.close()
            alice.close()
        }
    }

    @Test func aRefusedLoginIsNotRetried() async throws {
        try await Demo.withDaemon { daemon, port in
            await #expect(throws: IMClient.Failure.self) {
                _ = try await Self.reconnectingClient(port: port, username: "echo_bot", password: "wrong-password")
            }
        }
    }
}
