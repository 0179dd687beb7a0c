#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A minimal WebSocket client connection to the gateway, built on NIO directly so that thousands of them are cheap
/// and each may bind its own loopback source address (IMClient's client cannot).
///
/// Text frames are handed to `onText` on the channel's event loop; pings are answered; `onClose` runs once.
final class BenchSocket: Sendable {
    /// The connection's channel; writes may come from any thread.
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `ws://host:port/gateway`, optionally from `source` (an IPv4 address such as 127.0.0.2), and
    /// completes the HTTP upgrade.
    static func connect(group: any EventLoopGroup, host: String, port: Int, source: String?,
                        onText: @escaping @Sendable (ByteBuffer) -> Void,
                        onClose: @escaping @Sendable () -> Void) async throws -> BenchSocket {
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        if let source {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        let upgraded: EventLoopFuture<(any Channel)?> = try await bootstrap.connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                let upgrader = NIOTypedWebSocketClientUpgrader<(any Channel)?>(
                    maxFrameSize: 1 << 20,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(FrameHandler(onText: onText, onClose: onClose))
                            return channel
                        }
                    })
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "\(host):\(port)")
                headers.add(name: "Content-Length", value: "0")
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/gateway", headers: headers)
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<(any Channel)?>(
                    upgradeRequestHead: head, upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { nil } })
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: .init(upgradeConfiguration: configuration))
            }
        }
        guard let channel = try await upgraded.get() else {
            throw BenchError("the gateway refused the WebSocket upgrade")
        }
        return BenchSocket(channel: channel)
    }

    /// Sends one text frame (masked, as a client must).
    func send(_ text: String) {
        let buffer = channel.allocator.buffer(string: text)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), promise: nil)
    }

    /// Closes the TCP connection without a close handshake (as a dropped network would).
    func drop() {
        // Aborted (SO_LINGER 0: a reset, no FIN), as a lost network leaves it: a FIN would leave this side's socket in
        // TIME_WAIT for a minute, and thousands of them on one loopback source address make the kernel's search for a
        // free port, at the storm's reconnects, cost the generator seconds of CPU.
        let channel = channel
        guard let socket = channel as? any SocketOptionProvider else { return channel.close(promise: nil) }
        socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Hands text frames to a callback and answers pings; the only handler after the upgrade.
private final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let onText: @Sendable (ByteBuffer) -> Void
    let onClose: @Sendable () -> Void
    /// The pieces of a fragmented text message.
    var fragments: ByteBuffer?

    init(onText: @escaping @Sendable (ByteBuffer) -> Void, onClose: @escaping @Sendable () -> Void) {
        self.onText = onText
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if frame.fin { onText(frame.unmaskedData) } else { fragments = frame.unmaskedData }
        case .continuation:
            var data = frame.unmaskedData
            fragments?.writeBuffer(&data)
            if frame.fin, let whole = fragments {
                fragments = nil
                onText(whole)
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A failure of the benchmark itself (setup, protocol), printed and turned into exit status 1.
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
