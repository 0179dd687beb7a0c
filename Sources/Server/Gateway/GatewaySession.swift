import Dispatch
import Hub
import IMProtocol
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import WSCore

/// One client's long connection: login, then sends, acknowledgements and the delivery of its inbox.
///
/// The first frame must be `login`. After it, one child task delivers the inbox (the backlog after the
/// device's cursor, then live entries from the bus, filling gaps from the store) while the connection's
/// own task reads the client's frames: sends are stored in lanes per conversation, acknowledgements by one
/// coalescing writer, and answers are written by one queue in frame order. The delivery task and the answer
/// queue both write to the socket (the writer serializes them), each watched by the send-buffer watchdog.
struct GatewaySession {
    let hub: Hub
    let outbound: WebSocketOutboundWriter
    let channel: any Channel
    let logger: Logger
    let configuration: Gateway.Configuration
    let watchdog: WriteWatchdog
    /// The gateway-wide bound on sends being stored.
    let budget: SendBudget

    func run(inbound: WebSocketInboundStream) async throws {
        var frames = inbound.messages(maxSize: configuration.maxFrameBytes).makeAsyncIterator()
        // A connection that does not log in in time is closed; closing ends the inbound stream.
        let loginDeadline = Task { [outbound, configuration] in
            try await Task.sleep(for: configuration.loginTimeout)
            try await GatewaySession.fail(
                ServerFrame.Failure(code: .missingAuthentication, message: "login: no login frame within \(configuration.loginTimeout)",
                                    fatal: true), on: outbound)
        }
        defer { loginDeadline.cancel() }
        guard let first = try await frames.next() else { return }
        loginDeadline.cancel()
        let login: ClientFrame.Login
        switch decode(first) {
        case .success(.login(let l)):
            login = l
        case .success:
            return try await fail(ServerFrame.Failure(code: .missingAuthentication, message: "op: the first frame must be login",
                                                      fatal: true))
        case .failure(let e):
            return try await fail(ServerFrame.Failure(code: .invalidParameter, message: e.description, fatal: true))
        }
        let user: User
        let resumeAfter: Int64
        do {
            user = try await hub.login(appKey: login.appKey, username: login.username, password: login.password)
            if let since = login.since {
                resumeAfter = since
            } else {
                resumeAfter = try await hub.cursor(userID: user.id, device: login.device)
            }
        } catch {
            return try await fail(ServerFrame.Failure(id: login.id, code: error.code, message: error.message, fatal: true))
        }
        var logger = logger
        logger[metadataKey: "user"] = "\(user.appKey)/\(user.username)"
        logger[metadataKey: "device"] = "\(login.device)"
        logger.debug("gateway login", metadata: ["resume_after": "\(resumeAfter)"])

        let presence: Presence.Token
        do {
            presence = try await hub.sessionOpened(user, device: login.device, platform: login.platform)
        } catch {
            return try await fail(ServerFrame.Failure(id: login.id, code: error.code, message: error.message, fatal: true))
        }
        defer { hub.sessionClosed(presence) }
        // Subscribe before reading the backlog so that nothing committed in between is missed.
        let live = hub.bus.subscribe(userID: user.id)
        let delivered = DeliveredPosition(resumeAfter)
        let watch = WriteWatch()
        // Answers (sent, error, pong) are written by their own queue: watched too, so a client that floods
        // frames and never reads is disconnected even when nothing is delivered to it.
        let answerWatch = WriteWatch()
        try await write(.loginOK(.init(id: login.id, appKey: user.appKey, username: user.username, userType: user.kind,
                                       lastAck: resumeAfter, serverTime: hub.now())))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [logger] in
                do {
                    try await deliver(userID: user.id, after: resumeAfter, live: live, delivered: delivered, watch: watch)
                } catch where error is CancellationError || Task.isCancelled {
                    // The connection is closing (a store call cancelled mid-way surfaces as a storage error).
                } catch {
                    // Without delivery the connection is useless: close it so the client resumes elsewhere.
                    logger.error("delivery failed; closing the connection", metadata: ["error": "\(error)"])
                    try? await outbound.close(.unexpectedServerError, reason: "delivery failed")
                }
            }
            // The watchdog of the bounded send buffer (one task for all sessions): a write stuck longer than
            // writeTimeout means the client stopped reading with the socket's buffers full.
            let onStall: @Sendable () -> Void = { [logger, channel] in
                logger.warning("client is not reading; disconnecting",
                               metadata: ["write_timeout": "\(configuration.writeTimeout)"])
                channel.close(promise: nil)
            }
            let watched = [watchdog.watch(watch, onStall: onStall), watchdog.watch(answerWatch, onStall: onStall)]
            defer {
                watched.forEach(watchdog.unwatch)
                group.cancelAll()
            }
            // Sends are stored concurrently, in order per conversation; answers are still written in the order of
            // the frames they answer, a send's only after every acknowledgement received before it is stored.
            // Acknowledgements are stored by one writer that takes the latest.
            let sends = OrderedLanes<SendLane>(limit: configuration.sendsInFlight)
            let answers = OrderedLanes<Int>(limit: configuration.sendsInFlight)
            let acks = AckWriter()
            func answer(_ frame: ServerFrame) async {
                await answers.submit(0) { try? await write(frame, watch: answerWatch) }
            }
            do {
                while let frame = try await frames.next() {
                    switch decode(frame) {
                    case .failure(let e):
                        await answer(.error(.init(code: .invalidParameter, message: e.description)))
                    case .success(.send(let send)):
                        await budget.acquire()
                        let stored = await sends.submit(SendLane(send, sender: user)) {
                            defer { budget.release() }
                            return await store(send, user: user, login: login)
                        }
                        // Answered only once the acknowledgements received before it are stored (not later ones).
                        let acked = acks.requested
                        await answers.submit(0) {
                            let frame = await stored.value
                            await acks.stored(through: acked)
                            try? await write(frame, watch: answerWatch)
                        }
                    case .success(.ack(let seq)):
                        let last = delivered.value.load(ordering: .acquiring)
                        guard seq <= last else {
                            await answer(.error(.init(code: .invalidParameter,
                                                      message: "seq: \(seq) is beyond the last delivered entry \(last)")))
                            continue
                        }
                        acks.request(seq) { seq in await acknowledge(seq, user: user, login: login) }
                    case .success(.login):
                        await answer(.error(.init(code: .invalidParameter, message: "op: already logged in")))
                    case .success(.ping(let id)):
                        await answer(.pong(id: id))
                    }
                }
            } catch {
                await sends.drain()
                await answers.drain()
                await acks.stored(through: acks.requested)
                throw error
            }
            await sends.drain()
            await answers.drain()
            await acks.stored(through: acks.requested)
        }
    }

    /// Stores a send; the frame that answers it.
    func store(_ send: ClientFrame.Send, user: User, login: ClientFrame.Login) async -> ServerFrame {
        do {
            let stored = try await hub.send(send, from: user, platform: login.platform)
            return .sent(.init(id: send.id, msgID: stored.msgID, msgCtime: stored.msgCtime))
        } catch {
            return .error(.init(id: send.id, code: error.code, message: error.message))
        }
    }

    /// Stores a device's acknowledgement. A failure (the store failing; a bad seq is refused before) is logged,
    /// not answered: acks are coalesced, so an error frame could not be placed in frame order, and the client acks
    /// again with its next entries; the cursor stays where it was, so at worst entries are delivered again after a
    /// reconnect, never lost.
    func acknowledge(_ seq: Int64, user: User, login: ClientFrame.Login) async {
        do {
            try await hub.acknowledge(userID: user.id, device: login.device, seq: seq)
        } catch {
            logger.error("acknowledgement not stored", metadata: ["seq": "\(seq)", "error": "\(error)"])
        }
    }

    /// Sends the backlog after `after`, then every live entry, reading any gap from the store (``InboxReader``).
    func deliver(userID: Int64, after: Int64, live: AsyncStream<InboxEntry>, delivered: DeliveredPosition,
                 watch: WriteWatch) async throws {
        var reader = InboxReader(hub: hub, userID: userID, after: after, live: live, batch: configuration.backlogBatch)
        while let entry = try await reader.next() {
            // Counted as delivered before the write returns: the client may ack it before that.
            delivered.value.store(entry.seq, ordering: .releasing)
            try await write(entry, watch: watch)
        }
    }

    func decode(_ message: WebSocketMessage) -> Result<ClientFrame, ProtocolError> {
        switch message {
        case .text(let text):
            do {
                return .success(try ClientFrame(json: Array(text.utf8)))
            } catch {
                return .failure(error)
            }
        case .binary:
            return .failure(ProtocolError(path: "", reason: "binary frames are not supported; send JSON text frames"))
        }
    }

    func write(_ frame: ServerFrame) async throws {
        try await outbound.write(.text(frame.json.serializedString()))
    }

    /// Writes an answer under the send-buffer watchdog (answers are written one at a time, in frame order).
    func write(_ frame: ServerFrame, watch: WriteWatch) async throws {
        watch.begin()
        defer { watch.end() }
        try await write(frame)
    }

    /// Writes an inbox entry's frame (spliced from the message serialized once, when the hub has it), under the
    /// send-buffer watchdog.
    func write(_ entry: InboxEntry, watch: WriteWatch) async throws {
        watch.begin()
        defer { watch.end() }
        let bytes = entry.frameJSON()
        try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: bytes))))
    }

    func fail(_ failure: ServerFrame.Failure) async throws {
        try await Self.fail(failure, on: outbound)
    }

    /// Sends a fatal error frame, then closes with 1008 (policy violation).
    static func fail(_ failure: ServerFrame.Failure, on outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(ServerFrame.error(failure).json.serializedString()))
        // A close reason is limited to 123 bytes.
        try await outbound.close(.policyViolation, reason: failure.message.utf8.count > 123 ? nil : failure.message)
    }
}

/// The conversation a send goes to: sends to one conversation are stored and answered in the order they came.
/// Spelled as the hub resolves it, so that `target_appkey` absent, empty or the sender's own, and a gid written
/// `42` or `042`, are one lane.
struct SendLane: Hashable, Sendable {
    var type: TargetType
    var appKey: String
    var id: String

    init(_ send: ClientFrame.Send, sender: User) {
        type = send.targetType
        appKey = send.targetAppKey.flatMap { $0.isEmpty ? nil : $0 } ?? sender.appKey
        switch send.targetType {
        case .single: id = send.targetID
        case .group, .chatroom: id = Int64(send.targetID).map(String.init) ?? send.targetID
        }
    }
}

/// The send-buffer watchdog of every session of a gateway: one task checks every session's pending write each
/// half `timeout` (instead of a sleeping task per connection) and runs the session's `onStall` once when a write
/// has waited longer than `timeout`. The task runs only while some session is watched.
final class WriteWatchdog: Sendable {
    private struct State {
        var nextID = 0
        var watched: [Int: (watch: WriteWatch, onStall: @Sendable () -> Void)] = [:]
        var sweeper: Task<Void, Never>?
    }

    private let state = Mutex(State())
    let timeout: Duration

    init(timeout: Duration) {
        self.timeout = timeout
    }

    /// Watches a session's writes until ``unwatch(_:)``; returns the token to unwatch with.
    func watch(_ watch: WriteWatch, onStall: @escaping @Sendable () -> Void) -> Int {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.watched[id] = (watch, onStall)
            if s.sweeper == nil { s.sweeper = Task { await self.sweep() } }
            return id
        }
    }

    /// Stops watching a session.
    func unwatch(_ id: Int) {
        _ = state.withLock { $0.watched.removeValue(forKey: id) }
    }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: timeout / 2)
            let stalled: [@Sendable () -> Void]? = state.withLock { s in
                if s.watched.isEmpty {
                    s.sweeper = nil
                    return nil
                }
                var stalled: [@Sendable () -> Void] = []
                for (id, entry) in s.watched where entry.watch.stalled(longerThan: timeout) {
                    stalled.append(entry.onStall)
                    s.watched[id] = nil
                }
                return stalled
            }
            guard let stalled else { return }
            stalled.forEach { $0() }
        }
    }
}

/// When the current delivery write started (0 when none is pending), for the send-buffer watchdog.
final class WriteWatch: Sendable {
    private let startedAt = Atomic<UInt64>(0)

    func begin() {
        startedAt.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
    }

    func end() {
        startedAt.store(0, ordering: .relaxed)
    }

    /// Whether a write has been pending for longer than `limit`.
    func stalled(longerThan limit: Duration) -> Bool {
        let started = startedAt.load(ordering: .relaxed)
        guard started != 0 else { return false }
        let waited = DispatchTime.now().uptimeNanoseconds &- started
        let (seconds, attoseconds) = limit.components
        return waited > UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

/// The highest sequence number sent to the client, shared by the delivery task and the frame handler.
final class DeliveredPosition: Sendable {
    let value: Atomic<Int64>

    init(_ start: Int64) {
        value = Atomic(start)
    }
}
