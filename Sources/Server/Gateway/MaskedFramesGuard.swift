import NIOCore
import NIOHTTP1
import NIOWebSocket

/// RFC 6455 §5.1: a server must close the connection when a client sends an unmasked frame. Neither NIO nor
/// hummingbird-websocket checks it, and the frames they hand on no longer say whether they were masked, so this
/// handler sits right behind NIO's frame decoder, where they still do: an unmasked frame is answered with close
/// 1002 (protocol error) and the connection is closed; nothing of it reaches the gateway.
final class MaskedFramesGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil else {
            failed = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.write(webSocketErrorCode: .protocolError)
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            context.writeAndFlush(wrapOutboundOut(close)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
    }

    /// Put into the HTTP pipeline before the upgrade (by the gateway's `shouldUpgrade`); once the upgrade is
    /// complete and NIO's frame decoder is in place, puts a ``MaskedFramesGuard`` right behind it and leaves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is HTTPServerUpgradeEvents {
                let pipeline = context.pipeline.syncOperations
                do {
                    let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                    try pipeline.addHandler(MaskedFramesGuard(), position: .after(decoder))
                } catch {
                    // No WebSocket decoder: this connection was not upgraded to a WebSocket.
                }
                context.fireUserInboundEventTriggered(event)
                pipeline.removeHandler(context: context, promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }
}
