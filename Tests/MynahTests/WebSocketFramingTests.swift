import Foundation
import Hub
import Mynah
import Testing

/// RFC 6455 over a real loopback socket with handcrafted frames: invalid UTF-8 in a text frame closes the
/// connection with 1007 and an unmasked client frame with 1002, before the gateway acts on either.
@Suite struct WebSocketFramingTests {
    static func login(_ socket: RawWebSocket, username: String, password: String) async throws {
        try await socket.send(text: """
            {"op":"login","appkey":"\(Demo.appKey)","username":"\(username)","password":"\(password)","device":"raw"}
            """)
        let answer = try #require(try await socket.next())
        #expect(answer.text.contains("login_ok"), "\(answer.text)")
    }

    @Test func invalidUTF8InATextFrameClosesWith1007AndIsNotStored() async throws {
        try await Demo.withDaemon { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let socket = try await RawWebSocket.connect(port: port)
            try await Self.login(socket, username: "alice", password: "alice-pass")
            // A send whose text holds 0xFF, which is never valid in UTF-8.
            let send = Array(#"{"op":"send","id":"s1","target_id":"bob_b","msg_type":"text","msg_body":{"text":"a"#.utf8)
                + [0xff] + Array(#""}}"#.utf8)
            try await socket.send(opcode: 0x1, payload: send)
            let close = try #require(try await socket.closeFrame())
            #expect(close.closeCode == 1007)
            let bob = try await daemon.hub.user(appKey: Demo.appKey, username: "bob_b")
            let inbox = try await daemon.hub.inbox(userID: bob.id, after: 0, limit: 10)
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
}
