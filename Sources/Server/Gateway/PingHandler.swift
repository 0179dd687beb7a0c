import NIOCore
import NIOWebSocket

/// The gateway's WebSocket heartbeat: a ping every `interval`, and close 1001 `Ping timeout` when the previous ping
/// has not been answered by the time the next is due, so a dead peer is noticed within two intervals.
///
/// A timer of the connection's event loop, not a task: hummingbird-websocket's own auto-ping keeps one child task
/// per connection, sleeping, and a task keeps the memory of every frame it ran (2 to 3 KB of each idle
/// connection). It sits right behind NIO's frame decoder (put there by ``GatewayConnections/open(on:)``) from the
/// upgrade on, so a connection that never logs in is pinged too. Any pong counts as an answer; frames pass on.
final class PingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let interval: TimeAmount
    private var timer: RepeatedTask?
    /// Whether a ping went out and no pong came back since.
    private var awaitingPong = false

    /// A heartbeat pinging every `interval`.
    init(interval: TimeAmount) {
        self.interval = interval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.handler.tick(context: loopBound.value.context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if unwrapInboundIn(data).opcode == .pong { awaitingPong = false }
        context.fireChannelRead(data)
    }

    private func tick(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return stop() }
        if awaitingPong {
            stop()
            context.closeWebSocket(.goingAway, reason: "Ping timeout")
            return
        }
        awaitingPong = true
        let ping = WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0))
        context.writeAndFlush(wrapOutboundOut(ping), promise: nil)
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }
}

extension ChannelHandlerContext {
    /// Ends a WebSocket connection from a handler behind NIO's frame decoder: a close frame with `code` and `reason`,
    /// then, once it is written, the connection's close.
    func closeWebSocket(_ code: WebSocketErrorCode, reason: String? = nil) {
        let close = GatewayOutbound.closeFrame(code, reason: reason)
        writeAndFlush(NIOAny(close)).assumeIsolated().whenComplete { _ in
            self.close(promise: nil)
        }
    }
}
