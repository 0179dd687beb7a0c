import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import Server

/// ``PingHandler``: the gateway's heartbeat on the connection's event loop.
@Suite struct PingHandlerTests {
    static func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8] = []) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(bytes: bytes))
    }

    @Test func aPeerThatAnswersStaysAndOneThatStopsIsClosedWith1001AtTheNextPing() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(PingHandler(interval: .seconds(30)))

        // Nothing before the first interval.
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)

        // A ping per interval while each is answered; other frames pass on.
        for _ in 0..<3 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(30))
            let ping = try #require(try channel.readOutbound(as: WebSocketFrame.self))
            #expect(ping.opcode == .ping)
            try channel.writeInbound(Self.frame(.pong, Array(ping.data.readableBytesView)))
            #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .pong)
        }
        try channel.writeInbound(Self.frame(.text, Array("hi".utf8)))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .text)
        #expect(channel.isActive)

        // Unanswered: the next tick closes with 1001 "Ping timeout".
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .ping)
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        var close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(close.data.readWebSocketErrorCode() == .goingAway)
        #expect(close.data.readString(length: close.data.readableBytes) == "Ping timeout")
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)

        // Once closed, no more pings.
        channel.embeddedEventLoop.advanceTime(by: .seconds(120))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }
}
