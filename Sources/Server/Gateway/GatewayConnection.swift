import Hub
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// One gateway connection after the upgrade: the client's messages, handed over by ``GatewayHandler`` on the event
/// loop and handled in order, there while nothing waits before them, else by a task that runs only while some are
/// queued (``pump()``), and the connection's end.
///
/// No task waits for the client's next frame: an idle connection is its channel, its handlers and the session's
/// objects. While ``queueLimit`` messages wait, the handler stops reading the socket (one read may queue more), so a
/// client that sends faster than its frames are handled is held back by TCP, as by a task that reads only when ready.
final class GatewayConnection: Sendable {
    /// A complete client message, its fragments joined.
    enum Message: Sendable {
        /// A text message's bytes, checked to be UTF-8.
        case text(ByteBuffer)
        /// A binary message (the gateway refuses them).
        case binary
        /// The client's close frame, to be answered with `code` once the messages before it are handled.
        case close(WebSocketErrorCode)

        /// Whether this is the client's close (answered by the connection's task, after what came before it).
        var isClose: Bool {
            if case .close = self { true } else { false }
        }
    }

    private struct State {
        var queue = CircularBuffer<Message>(initialCapacity: 4)
        /// A message is being handled (on the event loop, or by the queue's task): others queue behind it.
        var pumping = false
        /// The client sent its close or its FIN, a framing error closed the connection, or the channel closed: what is
        /// queued is handled (or dropped, once the server closed), then the session ends.
        var inputEnded = false
        /// The session's end has begun.
        var ended = false
        var protocolState: GatewaySessionState
        var serving: GatewaySession.Serving?
        var handler: NIOLoopBound<GatewayHandler>?
    }

    /// How many messages may wait to be handled before the socket is no longer read.
    static let queueLimit = 16

    let session: GatewaySession
    private let state: Mutex<State>
    private let registry: GatewayConnections

    init(session: GatewaySession, registry: GatewayConnections) {
        self.session = session
        self.registry = registry
        state = Mutex(State(protocolState: GatewaySessionState(loginTimeout: session.configuration.loginTimeout)))
    }

    /// Called on the event loop once the handler is in the pipeline.
    func attach(_ handler: NIOLoopBound<GatewayHandler>) {
        state.withLock { $0.handler = handler }
    }

    /// Whether the handler may read more from the socket.
    var hasRoom: Bool {
        state.withLock { $0.queue.count < Self.queueLimit }
    }

    /// A client message, on the event loop. A logged-in session's message with nothing queued before it is handled
    /// here as far as it goes without waiting (a send queued for the store's writer, an answer written), which saves
    /// a task and a thread's wake-up per message; what waits, and every other message, is queued for the task that
    /// handles the queue (started unless it runs).
    func received(_ message: Message) {
        enum Next {
            case now(GatewaySessionState, GatewaySession.Serving)
            case pump
            case queued
        }
        let next = state.withLock { s -> Next in
            if !s.pumping, s.queue.isEmpty, !s.inputEnded, let serving = s.serving, !message.isClose {
                s.pumping = true
                return .now(s.protocolState, serving)
            }
            s.queue.append(message)
            guard !s.pumping else { return .queued }
            s.pumping = true
            return .pump
        }
        switch next {
        case .now(let protocolState, let serving):
            var updated = protocolState
            let rest = session.handleNow(message, session: &updated, serving: serving)
            registry.metrics.gatewayFrameHandled(onEventLoop: rest == nil)
            // Meanwhile `pumping` kept every other message (from this event loop, so none came) queued.
            let more = state.withLock { s in
                s.protocolState = updated
                guard rest == nil, s.queue.isEmpty, !s.inputEnded else { return true }
                s.pumping = false
                return false
            }
            if more {
                Task {
                    if let rest { await runRest(rest) }
                    await pump()
                }
            }
        case .pump:
            Task { await pump() }
        case .queued:
            return
        }
    }

    /// What a message left to do once it had to wait; a failure to write closes the connection.
    private func runRest(_ rest: @Sendable () async throws -> Void) async {
        do {
            try await rest()
        } catch {
            session.channel.close(promise: nil)
        }
    }

    /// The client will send nothing more: what is queued is handled, then the session ends.
    func inputEnded() {
        let start = state.withLock { s in
            s.inputEnded = true
            guard !s.pumping else { return false }
            s.pumping = true
            return true
        }
        if start { Task { await pump() } }
    }

    /// The login timeout passed with no message from the client (called on the event loop, which also reads them).
    func loginTimedOut() {
        // Applied at once, so that a login arriving while the error is written is not acted on.
        let action = state.withLock { $0.protocolState.loginTimerFired() }
        Task { [session] in try? await session.perform(action) }
    }

    /// Handles the queued messages in order, then returns; the last run ends the session.
    private func pump() async {
        while true {
            let (step, resumeReading) = state.withLock { s -> (Step, NIOLoopBound<GatewayHandler>?) in
                if session.outbound.isClosing, !s.queue.isEmpty {
                    // The server closed: nothing the client sent after that is acted on. Reads go on (the client's
                    // answer to the close is still to come); a client's close queued before is answered by closing.
                    let closeQueued = s.queue.contains(where: \.isClose)
                    s.queue.removeAll()
                    return (closeQueued ? .closeChannel : .next, s.handler)
                }
                if let message = s.queue.popFirst() {
                    // Reads were held while the queue was full: they resume as it leaves that state.
                    return (.handle(message), s.queue.count == Self.queueLimit - 1 ? s.handler : nil)
                }
                if s.inputEnded, !s.ended {
                    s.ended = true
                    return (.end, nil)
                }
                s.pumping = false
                // A burst's storage is not kept by an idle connection.
                if s.queue.capacity > Self.queueLimit { s.queue = CircularBuffer(initialCapacity: 4) }
                return (.stop, nil)
            }
            if let resumeReading {
                resumeReading.eventLoop.execute { resumeReading.value.resumeReading() }
            }
            switch step {
            case .handle(let message):
                await handle(message)
            case .closeChannel:
                session.channel.close(promise: nil)
            case .next:
                continue
            case .end:
                await end()
                return
            case .stop:
                return
            }
        }
    }

    /// What ``pump()`` does next.
    private enum Step {
        case handle(Message)
        /// Close the connection (a client's close dropped with the queue after the server's).
        case closeChannel
        case next
        /// End the session: the input ended and the queue is empty.
        case end
        /// Nothing queued: the task returns.
        case stop
    }

    /// One message: the login, or a frame of the logged-in session. A failure to write closes the connection.
    private func handle(_ message: Message) async {
        if case .close(let code) = message {
            // The handshake's answer, after the answers to every message the client sent before its close (a send's
            // once it is stored): nothing may follow a close frame.
            if let serving = state.withLock({ $0.serving }) {
                await serving.answers.drain()
            }
            // Under the close timeout: a client that stopped reading does not hold the connection open.
            try? await session.outbound.close(code, reason: nil)
            session.channel.close(promise: nil)
            return
        }
        let (protocolState, serving) = state.withLock { ($0.protocolState, $0.serving) }
        var updated = protocolState
        if let serving {
            let rest = session.handleNow(message, session: &updated, serving: serving)
            state.withLock { $0.protocolState = updated }
            registry.metrics.gatewayFrameHandled(onEventLoop: false)
            if let rest { await runRest(rest) }
            return
        }
        do {
            if case .awaitingLogin = updated.state, let serving = try await session.logIn(message, &updated) {
                // Kept before the greeting, so that the session's end releases it whatever happens next.
                state.withLock { $0.serving = serving }
                // Nothing follows a close frame (an administrator's end of the session, a shutdown).
                if !session.outbound.isClosing { try await session.start(serving) }
            }
            // Else the connection failed or ended: its close is on its way, and nothing more is acted on.
        } catch {
            session.channel.close(promise: nil)
        }
        state.withLock { $0.protocolState = updated }
    }

    /// The session's end: its deliveries stopped, its sends stored and answered, its presence gone.
    private func end() async {
        if let serving = state.withLock({ $0.serving }) {
            await session.finish(serving)
        }
        detach()
        registry.remove(self)
    }

    /// Lets go of the handler (which holds this connection): when the session ends or the handler leaves the pipeline.
    func detach() {
        state.withLock { $0.handler = nil }
    }
}

/// The gateway connection's handler, right after NIO's WebSocket frame decoder (and ``MaskedFramesGuard`` and
/// ``PingHandler``): joins fragments into messages (at most `maxFrameBytes` each), checks that text is UTF-8,
/// answers pings and the close handshake, and hands messages to the ``GatewayConnection``. Reads the socket only
/// while the connection's queue has room.
final class GatewayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connection: GatewayConnection
    private let maxMessageBytes: Int
    private let loginTimeout: TimeAmount
    /// A message's fragments so far: its opcode and its bytes.
    private var fragments: (opcode: WebSocketOpcode, data: ByteBuffer)?
    /// A read asked for while the queue was full.
    private var readHeld = false
    private var context: ChannelHandlerContext?
    private var loginTimer: Scheduled<Void>?
    /// Set once nothing more the client sends is acted on (its close came, or the connection failed).
    private var inputDone = false
    /// Set once a framing error's close frame went out (``fail(_:context:)``).
    private var failed = false
    /// Set once the client's close frame came (queued for its answer).
    private var closeReceived = false

    init(connection: GatewayConnection) {
        self.connection = connection
        maxMessageBytes = connection.session.configuration.maxFrameBytes
        loginTimeout = TimeAmount(connection.session.configuration.loginTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        connection.attach(bound)
        loginTimer = context.eventLoop.scheduleTask(in: loginTimeout) {
            let handler = bound.value
            guard handler.loginTimer != nil, !handler.inputDone else { return }
            handler.loginTimer = nil
            handler.connection.loginTimedOut()
        }
        // Closed before the handler came: no channelInactive will follow.
        if !context.channel.isActive { endInput() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        cancelLoginTimer()
        connection.detach()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird allows half-closed connections: a client's FIN (a killed app, a close without a close frame)
        // comes as this event, not as the channel's end, and ends the session at once.
        if let event = event as? ChannelEvent, event == .inputClosed {
            // After the client's close frame, its answer (still writable) closes the connection.
            guard !closeReceived else { return }
            endInput()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        endInput()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endInput()
        // The frame decoder's errors are answered (1002, 1009) by NIO's protocol error handler, before this one,
        // which closes the connection once its close frame is written.
        if !(error is NIOWebSocketError) { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !inputDone else {
            // After a framing error's close: the client's answer ends the connection.
            if frame.opcode == .connectionClose, failed { context.close(promise: nil) }
            return
        }
        // No extension is negotiated, so no reserved bit may be set (RFC 6455 §5.2).
        guard frame.reservedBits.isEmpty else { return fail(.protocolError, context: context) }
        switch frame.opcode {
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            return  // the heartbeat's answer, seen by PingHandler
        case .connectionClose:
            receivedClose(frame, context: context)
        case .text, .binary:
            guard fragments == nil else { return fail(.protocolError, context: context) }
            if frame.fin {
                deliver(frame.opcode, frame.unmaskedData, context: context)
            } else {
                fragments = (frame.opcode, frame.unmaskedData)
            }
        case .continuation:
            guard var joined = fragments else { return fail(.protocolError, context: context) }
            var data = frame.unmaskedData
            guard joined.data.readableBytes + data.readableBytes <= maxMessageBytes else {
                return fail(.messageTooLarge, context: context)
            }
            fragments = nil
            joined.data.writeBuffer(&data)
            if frame.fin {
                deliver(joined.opcode, joined.data, context: context)
            } else {
                fragments = joined
            }
        default:
            fail(.protocolError, context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Once the server closes, messages are dropped, and reading goes on for the client's answer.
        if connection.hasRoom || connection.session.outbound.isClosing {
            context.read()
        } else {
            readHeld = true
        }
    }

    /// Reads again after the queue was full (from the connection, on the event loop).
    func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    private func deliver(_ opcode: WebSocketOpcode, _ data: ByteBuffer, context: ChannelHandlerContext) {
        cancelLoginTimer()
        guard !connection.session.outbound.isClosing else { return }
        guard opcode == .text else { return connection.received(.binary) }
        guard data.readableBytesView.isUTF8 else { return fail(.dataInconsistentWithMessage, context: context) }
        connection.received(.text(data))
    }

    /// The client's close: answered with its code (1000 when it gave none, 1002 when the code is not one a peer may
    /// send) once the messages before it are handled, then the connection is closed; or, when the server closed
    /// first, the handshake's end.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        cancelLoginTimer()
        inputDone = true
        closeReceived = true
        guard !connection.session.outbound.isClosing else {
            connection.inputEnded()
            context.close(promise: nil)
            return
        }
        var data = frame.unmaskedData
        let code: WebSocketErrorCode = switch data.readableBytes {
        case 0: .normalClosure
        case 1: .protocolError
        default:
            // A code a peer may send, and a reason in UTF-8.
            data.readWebSocketErrorCode().flatMap { $0.isSendable && data.readableBytesView.isUTF8 ? $0 : nil }
                ?? .protocolError
        }
        connection.received(.close(code))
        connection.inputEnded()
    }

    /// Closes with `code` after a framing error of the client's: the close frame, then the connection's close once
    /// the client answers, or after the close timeout.
    private func fail(_ code: WebSocketErrorCode, context: ChannelHandlerContext) {
        endInput()
        fragments = nil
        failed = true
        guard connection.session.outbound.markClosing() else { return }
        GatewayOutbound.closeAfterTimeout(context.channel)
        context.writeAndFlush(wrapOutboundOut(GatewayOutbound.closeFrame(code, reason: nil)), promise: nil)
    }

    private func endInput() {
        cancelLoginTimer()
        guard !inputDone else { return }
        inputDone = true
        connection.inputEnded()
    }

    private func cancelLoginTimer() {
        loginTimer?.cancel()
        loginTimer = nil
    }
}

extension WebSocketErrorCode {
    /// Whether a peer may send this code in a close frame (RFC 6455 §7.4: not 1004–1006, 1015, or unassigned below
    /// 3000).
    var isSendable: Bool {
        switch self {
        case .normalClosure, .goingAway, .protocolError, .unacceptableData, .dataInconsistentWithMessage,
             .policyViolation, .messageTooLarge, .missingExtension, .unexpectedServerError:
            return true
        case .unknown(let raw):
            return (3000...4999).contains(raw)
        }
    }
}

extension ByteBufferView {
    /// Whether the bytes are valid UTF-8; ASCII, the usual JSON, is checked without decoding.
    var isUTF8: Bool {
        withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
        } ?? (String(validating: self, as: UTF8.self) != nil)
    }
}

/// The server's side of a gateway connection's writes that wait: frames written once the socket takes them, and the
/// close (a close frame, then the connection's close once the client answers it, or after `closeTimeout`).
final class GatewayOutbound: Sendable {
    let channel: any Channel
    private let closing = Atomic<Bool>(false)
    /// How long the client has to answer the server's close frame.
    static let closeTimeout: TimeAmount = .seconds(15)

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Whether a close frame went out (or is going out): nothing more the client sends is acted on.
    var isClosing: Bool { closing.load(ordering: .acquiring) }

    /// Marks the close as begun; false when it already was.
    func markClosing() -> Bool {
        !closing.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Writes `frame`; returns once the socket took it, so a caller waits for a client that does not read.
    func write(_ frame: WebSocketFrame) async throws {
        try await channel.writeAndFlush(frame).get()
    }

    /// Writes a text frame (see ``write(_:)-(WebSocketFrame)``).
    func write(text: [UInt8]) async throws {
        try await write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: text)))
    }

    /// Sends `frame` (a fatal error's) if given, then the close frame with `code` and `reason`, once; the connection
    /// closes when the client answers or after ``closeTimeout``. Nothing the client sends from now on is acted on.
    func close(_ code: WebSocketErrorCode, reason: String?, after frame: WebSocketFrame? = nil) async throws {
        guard markClosing() else { return }
        Self.closeAfterTimeout(channel)
        // Reads held for a full queue go on: the client's answer is to be read.
        channel.read()
        if let frame { try await write(frame) }
        try await write(Self.closeFrame(code, reason: reason))
    }

    /// Closes `channel` after ``closeTimeout`` unless it closes first (the timer, which holds the channel, goes then).
    static func closeAfterTimeout(_ channel: any Channel) {
        let timer = channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in timer.cancel() }
    }

    /// A close frame with `code` and `reason` (at most 123 bytes: longer reasons are left out).
    static func closeFrame(_ code: WebSocketErrorCode, reason: String?) -> WebSocketFrame {
        let reason = reason.flatMap { $0.utf8.count > 123 ? nil : $0 } ?? ""
        var payload = ByteBuffer()
        payload.reserveCapacity(2 + reason.utf8.count)
        payload.write(webSocketErrorCode: code)
        payload.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
    }
}

/// The gateway's open connections, so that a shutdown closes them (they have no task for the server to wait on),
/// and what they share: the hub, the limits, the send-buffer watchdog and the gateway-wide send budget.
final class GatewayConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: GatewayConnection] = [:]
        var shuttingDown = false
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let hub: Hub
    let configuration: Gateway.Configuration
    let logger: Logger
    let watchdog: WriteWatchdog
    let budget: SendBudget
    /// The hub's counters, kept here so that counting a frame does not copy them.
    let metrics: HubMetrics

    init(hub: Hub, configuration: Gateway.Configuration, logger: Logger) {
        self.hub = hub
        metrics = hub.metrics
        self.configuration = configuration
        self.logger = logger
        watchdog = WriteWatchdog(timeout: configuration.writeTimeout)
        budget = SendBudget(limit: configuration.sendsInFlightTotal)
    }

    /// Puts a new gateway connection's handlers behind NIO's frame decoder (on the channel's event loop, at the
    /// upgrade): the unmasked-frame check, the heartbeat and the session's handler.
    func open(on channel: any Channel) throws {
        let session = GatewaySession(hub: hub, outbound: GatewayOutbound(channel: channel), channel: channel,
                                     logger: logger, configuration: configuration, watchdog: watchdog, budget: budget)
        let connection = GatewayConnection(session: session, registry: self)
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers(MaskedFramesGuard(), PingHandler(interval: TimeAmount(configuration.pingInterval)))
        // Registered once nothing can fail, so that every registered connection's session ends.
        let refused = state.withLock { s in
            if s.shuttingDown { return true }
            s.open[ObjectIdentifier(connection)] = connection
            return false
        }
        if refused {
            channel.close(promise: nil)
            return
        }
        do {
            try sync.addHandler(GatewayHandler(connection: connection))
        } catch {
            remove(connection)
            throw error
        }
    }

    /// How many connections are open (registered and their session not yet ended).
    var count: Int {
        state.withLock { $0.open.count }
    }

    /// Forgets a connection whose session ended.
    func remove(_ connection: GatewayConnection) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open[ObjectIdentifier(connection)] = nil
            guard s.open.isEmpty else { return [] }
            defer { s.emptyWaiters = [] }
            return s.emptyWaiters
        }
        woken.forEach { $0.resume() }
    }

    /// Closes every connection (1000, as docs/gateway.md says: the close handshake, as ``GatewayOutbound/close(_:reason:after:)``)
    /// and returns once their sessions have ended; refuses new ones.
    func closeAll() async {
        let open = state.withLock { s in
            s.shuttingDown = true
            return Array(s.open.values)
        }
        // Each closes once its client answers, or after the close timeout.
        for connection in open {
            let outbound = connection.session.outbound
            Task { try? await outbound.close(.normalClosure, reason: "server shutting down") }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.open.isEmpty { return true }
                s.emptyWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

/// Closes the gateway's connections when the server shuts down: a service of the application, since the connections
/// have no task for the server to wait on.
struct GatewayShutdown: Service {
    let connections: GatewayConnections

    func run() async throws {
        try? await gracefulShutdown()
        await connections.closeAll()
    }
}
