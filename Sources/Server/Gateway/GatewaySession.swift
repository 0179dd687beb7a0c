import Dispatch
import Hub
import IMProtocol
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// One client's long connection: login, then sends, acknowledgements and the delivery of its inbox.
///
/// The first frame must be `login`. After it, ``Delivery`` delivers the inbox (a task reads the backlog after the
/// device's cursor, then hands over to ``LiveDelivery``, whose bus calls write live entries in order themselves, and
/// ends; a new task fills a gap or waits out a full socket) while ``GatewayConnection`` hands it the client's
/// messages, in order: on the event loop that read one while nothing waits before it, else from a task that runs
/// only while some are queued. Single-chat sends are queued for the store's writer in frame order (many in
/// flight, stored in that order), group and chatroom sends in lanes per conversation, acknowledgements by one
/// coalescing writer, and answers go out in frame order (``AnswerQueue``). Deliveries and answers are written straight
/// to the channel while its socket takes them (``FrameWriter``: one event-loop turn and one flush for what is
/// waiting); once it does not, they wait for the socket (``GatewayOutbound``), watched by the send-buffer watchdog.
struct GatewaySession: Sendable {
    let hub: Hub
    let outbound: GatewayOutbound
    let channel: any Channel
    let logger: Logger
    let configuration: Gateway.Configuration
    let watchdog: WriteWatchdog
    /// The gateway-wide bound on sends being stored.
    let budget: SendBudget

    /// What the login hands to the logged-in session, shared by its delivery and its messages' handling.
    final class Opened: Sendable {
        let user: User
        let login: ClientFrame.Login
        let presence: Presence.Token
        /// The live inbox, subscribed to the bus before the backlog is read, and its subscription.
        let inbox: LiveDelivery
        let subscription: InboxSubscription
        let writer: FrameWriter
        let delivered: DeliveredPosition
        let resumeAfter: Int64
        let loginOK: ServerFrame.LoginOK
        /// The gateway's logger, shared: the session's metadata is added only when something is logged, since a
        /// logger's own metadata is a dictionary per connection (0.5 KB each, heaptrack).
        private let gatewayLogger: Logger

        init(user: User, login: ClientFrame.Login, presence: Presence.Token, inbox: LiveDelivery,
             subscription: InboxSubscription, writer: FrameWriter, delivered: DeliveredPosition, resumeAfter: Int64,
             loginOK: ServerFrame.LoginOK, logger: Logger) {
            (self.user, self.login, self.presence, self.inbox, self.subscription) = (user, login, presence, inbox,
                                                                                      subscription)
            (self.writer, self.delivered, self.resumeAfter, self.loginOK, self.gatewayLogger) = (writer, delivered,
                                                                                                  resumeAfter, loginOK,
                                                                                                  logger)
        }

        /// The session's logger: the gateway's, with the account and the device as metadata.
        var logger: Logger { Opened.logger(gatewayLogger, user: user, device: login.device) }

        /// `logger` with the account and the device as metadata.
        static func logger(_ logger: Logger, user: User, device: String) -> Logger {
            var logger = logger
            logger[metadataKey: "user"] = "\(user.appKey)/\(user.username)"
            logger[metadataKey: "device"] = "\(device)"
            return logger
        }
    }

    /// The login: the connection's first message, checked, and the session opened; nil when the connection was
    /// refused (its fatal error is written). ``start(_:)`` then greets the client and starts delivery.
    func logIn(_ message: GatewayConnection.Message, _ session: inout GatewaySessionState) async throws -> Serving? {
        switch session.frameReceived(decode(message), delivered: 0) {
        case .authenticate(let login, let readCursor):
            guard let opened = try await open(login, readCursor: readCursor, &session) else { return nil }
            return Serving(session: self, opened: opened, state: session)
        case let action:
            try await perform(action)
            return nil
        }
    }

    /// Checks the login and opens the session (presence, the bus subscription); nil when the login was refused (its
    /// fatal error is written).
    @inline(never)
    func open(_ login: ClientFrame.Login, readCursor: Bool,
              _ session: inout GatewaySessionState) async throws -> Opened? {
        let user: User
        let token: Hub.LoginToken
        let cursor: Int64?
        do {
            // A reconnect presents the token of its last login_ok: an HMAC check instead of bcrypt.
            if let presented = login.token {
                (user, token) = try await hub.login(appKey: login.appKey, username: login.username, token: presented,
                                                    device: login.device)
            } else {
                (user, token) = try await hub.login(appKey: login.appKey, username: login.username,
                                                    password: login.password, device: login.device)
            }
            cursor = readCursor ? try await hub.cursor(userID: user.id, device: login.device) : nil
        } catch {
            try await perform(session.loginFailed(error))
            return nil
        }
        guard case .openSession(_, let device, let platform) = session.authenticated(user, cursor: cursor) else {
            preconditionFailure("an authenticated login opens its session")
        }
        let presence: Presence.Token
        do {
            // The console's "end session": a fatal error frame, then the close.
            presence = try await hub.sessionOpened(user, device: device, platform: platform) { [outbound, session] in
                Task {
                    var ended = session
                    try? await GatewaySession.perform(ended.sessionEnded(), on: outbound)
                }
            }
        } catch {
            try await perform(session.loginFailed(error))
            return nil
        }
        // Subscribe before reading the backlog so that nothing committed in between is missed. The live inbox
        // writes nothing until the delivery task has read the backlog and hands over.
        let writer = FrameWriter(channel: channel, outbound: outbound)
        let delivered = DeliveredPosition(0)
        let inbox = LiveDelivery(writer: writer, delivered: delivered)
        let subscription = hub.bus.subscribe(userID: user.id, receiver: inbox)
        guard case .start(let loginOK, let resumeAfter) = session.sessionOpened(serverTime: hub.now()) else {
            preconditionFailure("an opened session starts")
        }
        delivered.value.store(resumeAfter, ordering: .releasing)
        if logger.logLevel <= .debug {
            Opened.logger(logger, user: user, device: device)
                .debug("gateway login", metadata: ["resume_after": "\(resumeAfter)"])
        }
        var answer = loginOK
        answer.token = token.token
        answer.tokenExpires = token.expiresAt
        return Opened(user: user, login: login.withoutCredentials, presence: presence, inbox: inbox,
                      subscription: subscription, writer: writer, delivered: delivered, resumeAfter: resumeAfter,
                      loginOK: answer, logger: logger)
    }

    /// A logged-in session's parts that outlive each message: delivery, the per-conversation lanes of sends, the
    /// answers in frame order, the acknowledgements' writer, and the watchdog's watch over its writes.
    final class Serving: Sendable {
        let opened: Opened
        let delivery: Delivery
        let lanes: OrderedLanes<SendLane>
        /// The connection's own bound on sends being stored.
        let window: SendBudget
        let answers: AnswerQueue
        let acks: AckWriter
        /// The watchdog's tokens for the delivery's and the answers' writes.
        let watched: [Int]

        init(session: GatewaySession, opened: Opened, state: GatewaySessionState) {
            let configuration = session.configuration
            // The delivery's writes, and the answers' (sent, error, pong), are watched: a client that floods frames
            // and never reads is disconnected even when nothing is delivered to it.
            let watch = WriteWatch()
            let answerWatch = WriteWatch()
            self.opened = opened
            delivery = Delivery(session: session, opened: opened, watch: watch, started: state)
            // Sends are stored concurrently, in order per conversation; answers are still written in the order of
            // the frames they answer, a send's only after every acknowledgement received before it is stored.
            // Acknowledgements are stored by one writer that takes the latest.
            lanes = OrderedLanes<SendLane>(limit: configuration.sendsInFlight)
            window = SendBudget(limit: configuration.sendsInFlight)
            answers = AnswerQueue(limit: configuration.sendsInFlight, writer: opened.writer, outbound: session.outbound,
                                  watch: answerWatch)
            acks = AckWriter()
            // The watchdog of the bounded send buffer (one task for all sessions): a write stuck longer than
            // writeTimeout means the client stopped reading with the socket's buffers full.
            let onStall: @Sendable () -> Void = { [opened, channel = session.channel] in
                opened.logger.warning("client is not reading; disconnecting",
                                      metadata: ["write_timeout": "\(configuration.writeTimeout)"])
                channel.close(promise: nil)
            }
            watched = [session.watchdog.watch(watch, onStall: onStall),
                       session.watchdog.watch(answerWatch, onStall: onStall)]
        }
    }

    /// Greets the logged-in client (`login_ok`) and starts the delivery of its inbox (``Delivery``: tasks that run
    /// only while there is something for them to do).
    func start(_ serving: Serving) async throws {
        try await write(.loginOK(serving.opened.loginOK))
        serving.delivery.start(nil)
    }

    /// Ends a logged-in session: its delivery stopped, every send it made stored and answered (or the answer
    /// dropped with the connection), its acknowledgements stored, its subscription and presence gone.
    func finish(_ serving: Serving) async {
        let opened = serving.opened
        opened.inbox.finish()
        await serving.delivery.stop()
        await serving.lanes.drain()
        // Still watched: an answer waiting for a client that does not read ends with the connection's close.
        await serving.answers.drain()
        serving.watched.forEach(watchdog.unwatch)
        await serving.acks.stored(through: serving.acks.requested)
        opened.subscription.cancel()
        hub.sessionClosed(opened.presence)
    }

    /// One message of a logged-in session, as far as it goes without waiting: on the event loop that read it while
    /// nothing is queued before it, else in the connection's task. Returns what is left, which waits (an answer's
    /// place, the send windows, the store's asynchronous call: a group or chatroom send, PostgreSQL, an app's words
    /// not loaded or too many to mask here) or ends the connection, and is done before the next message;
    /// nil when the message is handled. Applies the message's transitions to `session` before it returns.
    func handleNow(_ frame: GatewayConnection.Message, session: inout GatewaySessionState,
                   serving: Serving) -> (@Sendable () async throws -> Void)? {
        let (opened, answers, acks) = (serving.opened, serving.answers, serving.acks)
        let (user, login) = (opened.user, opened.login)
        switch session.frameReceived(decode(frame), delivered: opened.delivered.value.load(ordering: .acquiring)) {
        case .answer(let answer):
            if let slot = answers.tryReserve() {
                answers.fill(slot, answer)
                return nil
            }
            return { await answers.fill(answers.reserve(), answer) }
        case .store(let send):
            // The answer's place, the connection's window and the gateway's budget, in that order: what is free is
            // taken now, the rest is waited for.
            let slot = answers.tryReserve()
            let windowTaken = slot != nil && serving.window.tryAcquire()
            let budgetTaken = windowTaken && budget.tryAcquire()
            // Answered only once the acknowledgements received before it are stored (not later ones).
            let acked = acks.requested
            if budgetTaken, let slot,
               hub.submitNow(send, from: user, platform: login.platform,
                             done: answered(send, slot: slot, acked: acked, serving: serving)) {
                return nil
            }
            return { [self] in
                let slot = if let slot { slot } else { await answers.reserve() }
                if !windowTaken { await serving.window.acquire() }
                if !budgetTaken { await budget.acquire() }
                let done = answered(send, slot: slot, acked: acked, serving: serving)
                if send.targetType == .single {
                    // Queued for the store's writer in frame order; stored in that order.
                    await hub.submit(send, from: user, platform: login.platform, done: done)
                } else {
                    await serving.lanes.submit(SendLane(send, sender: user)) {
                        do throws(HubError) {
                            done(.success(try await hub.send(send, from: user, platform: login.platform)))
                        } catch {
                            done(.failure(error))
                        }
                    }
                }
            }
        case .acknowledge(let seq):
            acks.request(seq) { seq in await acknowledge(seq, user: user, login: login) }
            return nil
        case .none:
            return nil
        case let action:
            // Only what ends the connection is left; a logged-in session is not asked for it.
            return { try await perform(action) }
        }
    }

    /// What a stored (or refused) send does: gives back its window and budget, and answers it in its place once the
    /// acknowledgements through `acked` are stored.
    private func answered(_ send: ClientFrame.Send, slot: Int, acked: Int64,
                          serving: Serving) -> @Sendable (Result<StoredMessage, HubError>) -> Void {
        let (answers, window, acks) = (serving.answers, serving.window, serving.acks)
        return { [budget] result in
            budget.release()
            window.release()
            let frame: ServerFrame = switch result {
            case .success(let stored): .sent(.init(id: send.id, msgID: stored.msgID, msgCtime: stored.msgCtime))
            case .failure(let error): .error(.init(id: send.id, code: error.code, message: error.message))
            }
            if acks.isStored(through: acked) {
                answers.fill(slot, frame)
            } else {
                Task {
                    await acks.stored(through: acked)
                    answers.fill(slot, frame)
                }
            }
        }
    }

    /// Closes the connection after its delivery failed; a function of its own, so that the delivery task's frame
    /// does not hold the state machine's temporaries while it waits.
    static func deliveryFailed(_ state: GatewaySessionState, on outbound: GatewayOutbound) async {
        var failed = state
        try? await perform(failed.deliveryFailed(), on: outbound)
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

    func decode(_ message: GatewayConnection.Message) -> Result<ClientFrame, ProtocolError> {
        switch message {
        case .text(let text):
            do {
                return .success(try ClientFrame(json: text.readableBytesView))
            } catch {
                return .failure(error)
            }
        case .binary:
            return .failure(ProtocolError(path: "", reason: "binary frames are not supported; send JSON text frames"))
        case .close:
            // Answered by the connection itself, never decoded.
            return .failure(ProtocolError(path: "", reason: "the connection is closing"))
        }
    }

    func write(_ frame: ServerFrame) async throws {
        try await outbound.write(text: frame.serialized())
    }

    /// Writes an inbox entry's frame (spliced from the message serialized once, when the hub has it): straight to
    /// the channel while its socket takes it, else through ``GatewayOutbound`` (which waits for the socket) under the
    /// send-buffer watchdog.
    func write(_ entry: InboxEntry, watch: WriteWatch, writer: FrameWriter) async throws {
        let frame = LiveDelivery.frame(entry)
        if writer.canWrite {
            writer.write(frame)
            return
        }
        writer.degrade()
        watch.begin()
        defer { watch.end() }
        try await outbound.write(frame)
    }

    func perform(_ action: GatewaySessionState.Action) async throws {
        try await Self.perform(action, on: outbound)
    }

    /// Takes an action of ``GatewaySessionState`` that ends the connection: a fatal error frame and the close, or the
    /// close alone (`.none` does nothing). The others are taken where the session has what they need.
    static func perform(_ action: GatewaySessionState.Action, on outbound: GatewayOutbound) async throws {
        switch action {
        case .fail(let failure, let code):
            let error = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: ServerFrame.error(failure)
                .serialized()))
            try await outbound.close(code, reason: failure.message, after: error)
        case .close(let code, let reason):
            try await outbound.close(code, reason: reason)
        case .none:
            return
        case .authenticate, .openSession, .start, .answer, .store, .acknowledge:
            assertionFailure("\(action) does not end the connection")
        }
    }
}

/// A session's answers (sent, error, pong) in the order of the frames they answer: a frame reserves its place when
/// read, its answer fills it whenever it is ready (a send's after its commit, from the store's writer), and answers
/// leave from the front as soon as every earlier one has. At most `limit` answers are reserved and not yet written:
/// the connection stops reading frames beyond that, so a client that never reads its answers holds no more.
///
/// Answers go straight to the channel (``FrameWriter``) while its socket takes them; once it does not, one task
/// writes them through ``GatewayOutbound``, which waits for the client to read, under the send-buffer watchdog.
final class AnswerQueue: Sendable {
    private struct State {
        /// The slot number of `slots[0]`.
        var base = 0
        /// Reserved slots from `base` on, nil until answered.
        var slots: [WebSocketFrame?] = []
        /// Answers ready for the waiting writer task (the socket was full), in order.
        var slow: [WebSocketFrame] = []
        var writing = false
        var slotWaiters: [CheckedContinuation<Void, Never>] = []
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        /// Reserved and not yet written (in `slots`, in `slow` or being written).
        var outstanding = 0
    }

    private let state = Mutex(State())
    let limit: Int
    let writer: FrameWriter
    let outbound: GatewayOutbound
    let watch: WriteWatch

    init(limit: Int, writer: FrameWriter, outbound: GatewayOutbound, watch: WriteWatch) {
        self.limit = max(1, limit)
        self.writer = writer
        self.outbound = outbound
        self.watch = watch
    }

    /// Reserves the next answer's place, waiting while `limit` answers are unwritten.
    func reserve() async -> Int {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.outstanding < limit {
                    s.outstanding += 1
                    return true
                }
                s.slotWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        return state.withLock { s in
            s.slots.append(nil)
            return s.base + s.slots.count - 1
        }
    }

    /// Reserves the next answer's place if one is free and no frame waits for one; nil otherwise.
    func tryReserve() -> Int? {
        state.withLock { s in
            guard s.slotWaiters.isEmpty, s.outstanding < limit else { return nil }
            s.outstanding += 1
            s.slots.append(nil)
            return s.base + s.slots.count - 1
        }
    }

    /// Answers the frame that reserved `slot`.
    func fill(_ slot: Int, _ frame: ServerFrame) {
        let encoded = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: frame.serialized()))
        let (released, startWriter) = state.withLock { s -> ([CheckedContinuation<Void, Never>], Bool) in
            s.slots[slot - s.base] = encoded
            var ready = 0
            while ready < s.slots.count, s.slots[ready] != nil { ready += 1 }
            guard ready > 0 else { return ([], false) }
            let frames = Array(s.slots.prefix(ready))
            s.slots.removeFirst(ready)
            s.base += ready
            if !s.writing, writer.canWrite {
                // Handed over under the lock, so answers filled on other threads keep their order.
                for f in frames { writer.write(f!) }
                return (release(ready, &s), false)
            }
            writer.degrade()
            s.slow.append(contentsOf: frames.map { $0! })
            if s.writing { return ([], false) }
            s.writing = true
            return ([], true)
        }
        released.forEach { $0.resume() }
        if startWriter { Task { await writeSlowly() } }
    }

    /// Returns once every reserved answer has been written.
    func drain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if s.outstanding == 0 { return true }
                s.drainWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    /// Gives back `n` written answers' places: to waiting frames, and to `drain` once none is left.
    private func release(_ n: Int, _ s: inout State) -> [CheckedContinuation<Void, Never>] {
        var woken: [CheckedContinuation<Void, Never>] = []
        for _ in 0..<n {
            if !s.slotWaiters.isEmpty {
                woken.append(s.slotWaiters.removeFirst())   // the place passes straight to the waiter
            } else {
                s.outstanding -= 1
            }
        }
        if s.outstanding == 0 {
            woken += s.drainWaiters
            s.drainWaiters = []
        }
        return woken
    }

    /// Writes the answers that found the socket full, waiting for the client to read (a failed write, the connection
    /// closing, drops them).
    private func writeSlowly() async {
        while true {
            let batch = state.withLock { s -> [WebSocketFrame] in
                if s.slow.isEmpty {
                    s.writing = false
                    return []
                }
                defer { s.slow.removeAll() }
                return s.slow
            }
            if batch.isEmpty { return }
            for frame in batch {
                watch.begin()
                try? await outbound.write(frame)
                watch.end()
            }
            let woken = state.withLock { s in release(batch.count, &s) }
            woken.forEach { $0.resume() }
        }
    }
}

/// A session's delivery of its inbox, in tasks that run only while there is something to deliver: the first reads
/// the backlog after the device's cursor; once caught up, it hands live entries to ``LiveDelivery`` (the bus's call
/// writes them to the socket) and ends. When the live inbox cannot deliver an entry (out of order, or the socket
/// full), it starts the next task with that entry, which reads any gap from the store and writes what the socket
/// did not take, until it is caught up again (``DirectInbox/ParkingFeed``). An idle session keeps no delivery
/// task: a task keeps its memory for as long as it lives, and waiting tasks were 7 KB of each idle connection.
final class Delivery: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var number = 0
        var stopped = false
    }
    private let state = Mutex(State())
    private let session: GatewaySession
    private let opened: GatewaySession.Opened
    private let watch: WriteWatch
    /// The protocol state when serving began: what a delivery failure's close is decided from.
    private let started: GatewaySessionState

    init(session: GatewaySession, opened: GatewaySession.Opened, watch: WriteWatch, started: GatewaySessionState) {
        (self.session, self.opened, self.watch, self.started) = (session, opened, watch, started)
    }

    /// Starts a delivery task: from the device's position (`resuming` nil), or with the first live entry the live
    /// inbox could not deliver and the position it reached. Nothing once stopped.
    func start(_ resuming: (entry: InboxEntry, position: Int64)?) {
        state.withLock { s in
            guard !s.stopped else { return }
            s.number += 1
            let number = s.number
            s.task = Task { await self.run(resuming, number: number) }
        }
    }

    /// Cancels the running task, if any, and waits for it; starts none after.
    func stop() async {
        let task = state.withLock { s in
            s.stopped = true
            return s.task
        }
        task?.cancel()
        await task?.value
    }

    private func run(_ resuming: (entry: InboxEntry, position: Int64)?, number: Int) async {
        defer {
            // The finished task's handle is let go, so that nothing of it stays while the session idles.
            state.withLock { s in if s.number == number { s.task = nil } }
        }
        let (hub, opened, batch) = (session.hub, opened, session.configuration.backlogBatch)
        let feed = LiveDelivery.ParkingFeed(live: opened.inbox) { [weak self] entry, position in
            self?.start((entry, position))
        }
        var reader = if let resuming {
            InboxReader(hub: hub, userID: opened.user.id, resumingAt: resuming.position, with: resuming.entry,
                        feed: feed, batch: batch)
        } else {
            InboxReader(hub: hub, userID: opened.user.id, after: opened.resumeAfter, feed: feed, batch: batch)
        }
        do {
            while let entry = try await reader.next() {
                // Counted as delivered before the write returns: the client may ack it before that.
                opened.delivered.value.store(entry.seq, ordering: .releasing)
                try await session.write(entry, watch: watch, writer: opened.writer)
            }
        } catch where error is CancellationError || Task.isCancelled || !session.channel.isActive {
            // The connection is closing (a store call cancelled mid-way surfaces as a storage error), or closed
            // under a write.
        } catch {
            // Without delivery the connection is useless: close it so the client resumes elsewhere.
            opened.logger.error("delivery failed; closing the connection", metadata: ["error": "\(error)"])
            await GatewaySession.deliveryFailed(started, on: session.outbound)
        }
    }
}

/// Writes a session's frames straight to its channel from any thread: the frames handed over meanwhile go out in one
/// event-loop turn with one flush, without a write promise and an await per frame.
/// Only while the socket takes them: ``canWrite`` turns false once the channel is not writable or much is waiting
/// here, and the caller then awaits ``GatewayOutbound``, which waits for the client to read. A frame handed over
/// before such an awaited write reaches the channel first (both end on the event loop, in that order); after one,
/// the session stays on ``GatewayOutbound`` (``degrade()``), so nothing handed over later overtakes it.
final class FrameWriter: Sendable {
    private struct State {
        var pending: [WebSocketFrame] = []
        var bytes = 0
        var scheduled = false
        /// Set once a frame went through ``GatewayOutbound``: from then on every frame does.
        var degraded = false
    }

    private let state = Mutex(State())
    let channel: any Channel
    /// The connection's close, after which nothing is written (RFC 6455 §5.5.1); nil in tests of the writer alone.
    let outbound: GatewayOutbound?
    /// The most bytes handed over and not yet on the channel.
    static let maxPendingBytes = 256 << 10

    init(channel: any Channel, outbound: GatewayOutbound? = nil) {
        self.channel = channel
        self.outbound = outbound
    }

    /// Whether a frame handed over now would be written without waiting for the client.
    var canWrite: Bool {
        channel.isWritable && state.withLock { !$0.degraded && $0.bytes < Self.maxPendingBytes }
    }

    /// Called before a frame goes through ``GatewayOutbound`` instead: from then on the session keeps to it, so that
    /// no frame handed over here later can overtake one that is waiting for the socket (a delivery out of `seq`
    /// order, seen once in SlowConsumerTests with hummingbird-websocket's writer, which returned before its frame
    /// was on the channel).
    func degrade() {
        state.withLock { $0.degraded = true }
    }

    /// Hands `frame` over; it is written (after every frame handed over before) in the event loop's next turn. Dropped
    /// once the connection's close frame is on its way.
    func write(_ frame: WebSocketFrame) {
        // Once the close frame is on its way, nothing may follow it; what was handed over before goes out first.
        if outbound?.isClosing == true { return }
        let schedule = state.withLock { s in
            s.pending.append(frame)
            s.bytes += frame.data.readableBytes
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        if schedule { channel.eventLoop.execute { self.flush() } }
    }

    private func flush() {
        let frames = state.withLock { s -> [WebSocketFrame] in
            s.scheduled = false
            s.bytes = 0
            defer { s.pending.removeAll(keepingCapacity: true) }
            return s.pending
        }
        for frame in frames { channel.write(frame, promise: nil) }
        channel.flush()
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

/// The highest sequence number sent to the client, shared by the delivery and the frame handler.
final class DeliveredPosition: Sendable {
    let value: Atomic<Int64>

    init(_ start: Int64) {
        value = Atomic(start)
    }
}
