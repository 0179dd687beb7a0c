import Foundation
import Hub
import Mynah
import MynahTesting
import Server
import Testing

/// RFC 6455 over a real loopback socket with handcrafted frames: invalid UTF-8 in a text frame closes the
/// connection with 1007 and an unmasked client frame with 1002, before the gateway acts on either; fragments are
/// joined (within the frame limit), pings answered between them, and the close handshake keeps the frames' order.
@Suite struct WebSocketFramingTests {
    static func login(_ socket: RawWebSocket, username: String, password: String) async throws {
        try await socket.send(text: """
            {"op":"login","appkey":"\(Demo.appKey)","username":"\(username)","password":"\(password)","device":"raw"}
            """)
        let answer = try #require(try await socket.next())
        #expect(answer.text.contains("login_ok"), "\(answer.text)")
    }

    /// Registers alice and bob_b, and logs alice in on a raw connection.
    static func aliceToBob(_ daemon: Daemon, port: Int) async throws -> RawWebSocket {
        try await Demo.register(daemon, "alice", password: "alice-pass")
        try await Demo.register(daemon, "bob_b", password: "bob-pass")
        let socket = try await RawWebSocket.connect(port: port)
        try await login(socket, username: "alice", password: "alice-pass")
        return socket
    }

    /// What bob_b has received.
    static func bobsInbox(_ daemon: Daemon) async throws -> [InboxEntry] {
        let bob = try await daemon.hub.user(appKey: Demo.appKey, username: "bob_b")
        return try await daemon.hub.inbox(userID: bob.id, after: 0, limit: 10)
    }

    @Test func invalidUTF8InATextFrameClosesWith1007AndIsNotStored() async throws {
        try await Demo.withDaemon { daemon, port in
            let socket = try await Self.aliceToBob(daemon, port: port)
            // A send whose text holds 0xFF, which is never valid in UTF-8.
            let send = Array(#"{"op":"send","id":"s1","target_id":"bob_b","msg_type":"text","msg_body":{"text":"a"#.utf8)
                + [0xff] + Array(#""}}"#.utf8)
            try await socket.send(opcode: 0x1, payload: send)
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1007)
            let inbox = try await Self.bobsInbox(daemon)
            #expect(inbox.isEmpty)
        }
    }

    @Test func anUnmaskedFrameClosesWith1002() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await socket.send(opcode: 0x1, payload: Array("""
                {"op":"login","appkey":"\(Demo.appKey)","username":"alice","password":"alice-pass","device":"raw"}
                """.utf8), masked: false)
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1002)
        }
    }

    @Test func anUnmaskedControlFrameAfterLoginClosesWith1002() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            try await socket.send(opcode: 0x9, payload: Array("ping".utf8), masked: false)
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1002)
        }
    }

    @Test func maskedValidFramesStillWork() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            try await socket.send(text: #"{"op":"ping","id":"p1"}"#)
            let pong = try #require(try await socket.next())
            #expect(pong.text.contains("pong"), "\(pong.text)")
        }
    }

    /// A send to bob, as the bytes of a `send` frame.
    static func send(id: String, text: String) -> [UInt8] {
        Array(#"{"op":"send","id":"\#(id)","target_id":"bob_b","msg_type":"text","msg_body":{"text":"\#(text)"}}"#.utf8)
    }

    @Test func fragmentsAreJoinedIntoOneMessageAndPingsBetweenThemAnswered() async throws {
        try await Demo.withDaemon { daemon, port in
            let socket = try await Self.aliceToBob(daemon, port: port)
            let whole = Self.send(id: "s1", text: "in three parts")
            let (a, b) = (whole.count / 3, 2 * whole.count / 3)
            // Text (not final), a ping between, then two continuations, the last final: one message.
            try await socket.socket.write(RawWebSocket.frame(opcode: 0x1, payload: Array(whole[..<a]), fin: false)
                + RawWebSocket.frame(opcode: 0x9, payload: Array("between".utf8))
                + RawWebSocket.frame(opcode: 0x0, payload: Array(whole[a..<b]), fin: false)
                + RawWebSocket.frame(opcode: 0x0, payload: Array(whole[b...])))
            let pong = try #require(try await socket.next())
            #expect(pong.opcode == 0xA && pong.text == "between")
            let sent = try #require(try await socket.next())
            #expect(sent.text.contains(#""op":"sent""#) && sent.text.contains(#""id":"s1""#), "\(sent.text)")
            let inbox = try await Self.bobsInbox(daemon)
            #expect(inbox.count == 1)
        }
    }

    @Test func fragmentsBeyondTheFrameLimitCloseWith1009AndAreNotStored() async throws {
        try await Demo.withDaemon(options: .init(passwordCost: 4, gateway: .init(maxFrameBytes: 1024))) { daemon, port in
            let socket = try await Self.aliceToBob(daemon, port: port)
            // Each fragment is within the limit; together they are not.
            let whole = Self.send(id: "s1", text: String(repeating: "x", count: 1500))
            try await socket.send(opcode: 0x1, payload: Array(whole[..<800]), fin: false)
            try await socket.send(opcode: 0x0, payload: Array(whole[800...]))
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1009)
            #expect(try await Self.bobsInbox(daemon).isEmpty)
        }
    }

    @Test func aContinuationWithNothingToContinueClosesWith1002() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            try await socket.send(opcode: 0x0, payload: Array("{}".utf8))
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1002)
        }
    }

    /// With its FIN right after the close (`finAfterClose`), the client still gets every answer: the socket can be
    /// written to until the server closes it.
    @Test(arguments: [false, true])
    func theClientsCloseIsAnsweredWithItsCodeAfterTheFramesBeforeIt(finAfterClose: Bool) async throws {
        try await Demo.withDaemon { daemon, port in
            let socket = try await Self.aliceToBob(daemon, port: port)
            // Three sends and the close in one write: each send is stored and answered before the close's answer.
            try await socket.socket.write((1...3).flatMap { RawWebSocket.frame(opcode: 0x1, payload: Self.send(id: "s\($0)", text: "m\($0)")) }
                + RawWebSocket.frame(opcode: 0x8, payload: [0x0f, 0xa0]))  // 4000
            if finAfterClose { shutdown(socket.socket.fd, Int32(SHUT_WR)) }
            var answers: [String] = []
            var close: RawWebSocket.Frame?
            while let frame = try await socket.next() {
                if frame.opcode == 0x8 {
                    close = frame
                    break
                }
                answers.append(frame.text)
            }
            #expect(close?.closeCode == 4000)
            #expect(answers.count == 3 && answers.allSatisfy { $0.contains(#""op":"sent""#) }, "\(answers)")
            #expect(try await Self.bobsInbox(daemon).count == 3)
        }
    }

    @Test func aCloseWithACodeNoPeerMaySendIsAnsweredWith1002() async throws {
        try await Demo.withDaemon { _, port in
            let socket = try await RawWebSocket.connect(port: port)
            try await socket.send(opcode: 0x8, payload: [0x03, 0xee])  // 1006: only ever local
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1002)
        }
    }

    @Test func stoppingTheDaemonClosesItsConnectionsWith1000AndWaitsForTheAnswer() async throws {
        let dir = try TemporaryDirectory()
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4))
        try await Demo.register(daemon, "alice", password: "alice-pass")
        let (sockets, handOut) = AsyncStream.makeStream(of: RawWebSocket.self)
        // The connection is still open when the daemon stops: the stop sends its close, and ends once answered.
        async let stopped: Void = daemon.withRunning { port in
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            handOut.yield(socket)
        }
        var handedOut = sockets.makeAsyncIterator()
        let socket = try #require(await handedOut.next())
        let close = try #require(try await socket.closeFrame())
        #expect(close.closeCode == 1000)
        try await socket.send(opcode: 0x8, payload: [0x03, 0xe8])
        try await stopped
        #expect(try await socket.next() == nil)
        withExtendedLifetime(dir) {}
    }

    @Test func aClientThatLeavesWithoutACloseFrameIsSignedOffAtOnce() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            let alice = try await daemon.hub.user(appKey: Demo.appKey, username: "alice")
            #expect(daemon.hub.presence.sessions(userID: alice.id).count == 1)
            // The client's FIN, as a killed app's: the server closes too, before any heartbeat.
            shutdown(socket.socket.fd, Int32(SHUT_WR))
            #expect(try await socket.next() == nil)
            while !daemon.hub.presence.sessions(userID: alice.id).isEmpty { await Task.yield() }
        }
    }

    @Test func anUpgradeToAnotherPathIsRefusedWith400() async throws {
        try await Demo.withDaemon { _, port in
            do {
                _ = try await RawWebSocket.connect(port: port, path: "/v1/users")
                Issue.record("upgraded a path that is not the gateway's")
            } catch {
                #expect("\(error)".contains("HTTP/1.1 400"), "\(error)")
            }
        }
    }
}
