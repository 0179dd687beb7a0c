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

    /// Put into the HTTP pipeline before the upgrade (by the gateway's `shouldUpgrade`); once the upgrade is
    /// complete and NIO's frame decoder is in place, puts a ``MaskedFramesGuard`` right behind it, and the
    /// heartbeat (``PingHandler``) behind that, and leaves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        private let pingInterval: TimeAmount

        /// An installer for connections pinged every `pingInterval`.
        init(pingInterval: Duration) {
            self.pingInterval = TimeAmount(pingInterval)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is HTTPServerUpgradeEvents {
                let pipeline = context.pipeline.syncOperations
                do {
                    let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                    let guardHandler = MaskedFramesGuard()
                    try pipeline.addHandler(guardHandler, position: .after(decoder))
                    try pipeline.addHandler(PingHandler(interval: pingInterval), position: .after(guardHandler))
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
