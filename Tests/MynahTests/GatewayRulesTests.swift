import Foundation
import Hub
import HummingbirdWSClient
import IMClient
import IMProtocol
import Logging
import NIOWebSocket
import Server
import Testing
import MynahTesting
@testable import Mynah

/// Rules of the gateway seen from a raw WebSocket client: what the server answers, frame by frame.
@Suite struct GatewayRulesTests {
    /// Connects a raw WebSocket, sends `frames`, and collects the server's frames until it closes the connection
    /// or `until` says enough.
    static func exchange(port: Int, send frames: [String], until: @escaping @Sendable ([ServerFrame]) -> Bool = { _ in false })
        async throws -> [ServerFrame] {
        var logger = Logger(label: "test.ws")
        logger.logLevel = .warning
        let received = ReceivedFrames()
        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/gateway", logger: logger) { inbound, outbound, _ in
            for f in frames { try await outbound.write(.text(f)) }
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                if received.append(try ServerFrame(json: Array(text.utf8)), until: until) {
                    try await outbound.close(.normalClosure, reason: nil)
                    return
                }
            }
        }
        return received.frames
    }

    static func login(_ user: String, _ password: String) -> String {
        #"{"op":"login","id":"l","appkey":"\#(Demo.appKey)","username":"\#(user)","password":"\#(password)"}"#
    }

    @Test func aConnectionThatDoesNotLogInIsClosedWithAFatalError() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4, gateway: .init(loginTimeout: .milliseconds(50)))) { daemon, port in
            let frames = try await Self.exchange(port: port, send: [])
            guard case .error(let e) = try #require(frames.first) else {
                Issue.record("expected an error frame, got \(frames)")
                return
            }
            #expect(e.code == .missingAuthentication)
            #expect(e.fatal)
            #expect(frames.count == 1)
        }
    }

    @Test func theFirstFrameMustBeLogin() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4)) { daemon, port in
            let frames = try await Self.exchange(port: port, send: [#"{"op":"ping","id":"p"}"#])
            #expect(frames == [.error(.init(code: .missingAuthentication, message: "op: the first frame must be login",
                                            fatal: true))])
            let bad = try await Self.exchange(port: port, send: [#"{"op":"login","appkey":"k"}"#])
            #expect(bad == [.error(.init(code: .invalidParameter, message: "username: required", fatal: true))])
        }
    }

    @Test func badFramesAfterLoginAreAnsweredAndTheConnectionStays() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4)) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let frames = try await Self.exchange(
                port: port,
                send: [Self.login("alice", "alice-pass"),
                       #"{"op":"send","id":"s1","target_id":"echo_bot","msg_type":"text","msg_body":{}}"#,
                       #"{"op":"ack","seq":99}"#,
                       "not json",
                       #"{"op":"ping","id":"p1"}"#],
                until: { $0.contains(.pong(id: "p1")) })
            #expect(frames.count == 5)
            guard frames.count == 5 else { return }
            guard case .loginOK = frames[0] else { Issue.record("expected login_ok, got \(frames[0])"); return }
            #expect(frames[1] == .error(.init(code: .invalidParameter, message: "msg_body.text: required")))
            #expect(frames[2] == .error(.init(code: .invalidParameter, message: "seq: 99 is beyond the last delivered entry 0")))
            guard case .error(let e) = frames[3] else { Issue.record("expected an error, got \(frames[3])"); return }
            #expect(e.code == .invalidParameter && !e.fatal)
            #expect(frames[4] == .pong(id: "p1"))
        }
    }

    @Test func noOfflineMessagesReachOnlyOnlineSessions() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4)) { daemon, port in
            for name in ["alice", "bob_b"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            // bob is offline: a no_offline message leaves nothing in his inbox.
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("gone"), noOffline: true))
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("kept")))
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            var it = bob.messages.makeAsyncIterator()
            let first = try #require(await it.next())
            #expect(first.seq == 1)
            #expect(first.stored.message.body.text == "kept")
            // bob is online now: a no_offline message reaches him.
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("live"), noOffline: true))
            let second = try #require(await it.next())
            #expect(second.seq == 2)
            #expect(second.stored.message.body.text == "live")
            bob.close()
            alice.close()
        }
    }

    @Test func anAppWithoutOfflineMessagesDeliversOnlyToOnlineSessions() async throws {
        let dir = try TemporaryDirectory()
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4)) { $0.apps[0].offlineMessages = false }
        try await daemon.withRunning { port in
            for name in ["alice", "bob_b"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("while offline")))
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("while online")))
            let first = try await bob.messages.first()
            #expect(first.seq == 1)
            #expect(first.stored.message.body.text == "while online")
            bob.close()
            alice.close()
        }
    }

    @Test func sendsWrittenBackToBackAreStoredInOrderPerConversationAndAnsweredInOrder() async throws {
        try await Demo.withDaemon { daemon, port in
            for name in ["alice", "bob_b", "carol"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            // Two conversations interleaved, all frames written before any answer is read.
            var frames = [Self.login("alice", "pass-alice")]
            for i in 0..<40 {
                let to = i % 2 == 0 ? "bob_b" : "carol"
                frames.append(#"{"op":"send","id":"s\#(i)","target_id":"\#(to)","msg_type":"text","msg_body":{"text":"m\#(i)"}}"#)
                if i == 19 { frames.append("not json") }
            }
            frames.append(#"{"op":"ping","id":"p"}"#)
            let answers = try await Self.exchange(port: port, send: frames) { received in
                received.contains { $0 == .pong(id: "p") }
            }
            // Answers come in the order of the frames they answer, the parse error in its place.
            let order: [String] = answers.compactMap { frame in
                switch frame {
                case .sent(let s): s.id
                case .error(let e): e.id ?? "error"
                case .pong(let id): id
                default: nil
                }
            }
            #expect(order == (0..<20).map { "s\($0)" } + ["error"] + (20..<40).map { "s\($0)" } + ["p"])
            for (name, first) in [("bob_b", 0), ("carol", 1)] {
                let user = try await daemon.hub.user(appKey: Demo.appKey, username: name)
                let texts = try await daemon.hub.inbox(userID: user.id, after: 0).compactMap { $0.stored?.message.body.text }
                #expect(texts == stride(from: first, to: 40, by: 2).map { "m\($0)" })
            }
        }
    }

    @Test func aSendIsAnsweredOnlyAfterTheAcknowledgementsBeforeItAreStored() async throws {
        try await Demo.withDaemon { daemon, port in
            for name in ["alice", "bob_b"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let alice = try await Demo.client(port: port, username: "alice", password: "pass-alice")
            for i in 1...3 { _ = try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))) }
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            var it = bob.messages.makeAsyncIterator()
            for _ in 1...3 { _ = try #require(await it.next()) }
            bob.ack(1)
            bob.ack(3)
            _ = try await bob.send(.init(targetID: "alice", body: .text("after the acks")))
            let id = try await daemon.hub.user(appKey: Demo.appKey, username: "bob_b").id
            #expect(try await daemon.hub.cursor(userID: id, device: "default") == 3)
            bob.close()
            alice.close()
        }
    }
}

/// Frames collected by a raw client's handler.
final class ReceivedFrames: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [ServerFrame] = []

    /// Appends a frame; returns true when `until` is satisfied.
    func append(_ frame: ServerFrame, until: ([ServerFrame]) -> Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        storage.append(frame)
        return until(storage)
    }

    var frames: [ServerFrame] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
