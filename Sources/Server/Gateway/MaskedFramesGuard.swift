import NIOCore
import NIOWebSocket

/// RFC 6455 §5.1: a server must close the connection when a client sends an unmasked frame. NIO's frame decoder
/// does not check it, so this handler sits right behind that decoder (put there by
/// ``GatewayConnections/open(on:)``): an unmasked frame is answered with close 1002 (protocol error) and the
/// connection is closed; nothing of it reaches the gateway.
final class MaskedFramesGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil else {
            failed = true
            context.closeWebSocket(.protocolError)
            return
        }
        context.fireChannelRead(data)
    }
}
