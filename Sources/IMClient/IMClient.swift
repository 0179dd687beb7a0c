import HummingbirdWSClient
import IMProtocol
import Logging
import NIOWebSocket
import Synchronization

/// A logged-in connection to a Mynah gateway: send messages, receive the inbox as an `AsyncSequence`, acknowledge.
///
/// ```swift
/// let client = try await IMClient.connect(.init(url: "ws://127.0.0.1:8080/gateway", appKey: key,
///                                               username: "alice", password: "secret"))
/// _ = try await client.send(.init(targetID: "bob", body: .text("hi")))
/// for await delivery in client.messages { client.ack(delivery.seq) }
/// ```
public final class IMClient: Sendable {
    /// Where to connect and as whom.
    public struct Configuration: Sendable {
        /// The gateway URL, e.g. `ws://127.0.0.1:8080/gateway`.
        public var url: String
        /// The AppKey of the account.
        public var appKey: String
        /// The username.
        public var username: String
        /// The password.
        public var password: String
        /// The platform reported as `from_platform`.
        public var platform: String
        /// A stable device id; the server keeps an acknowledgement cursor per device.
        public var device: String
        /// Resume after this sequence number instead of the server's stored cursor.
        public var since: Int64?
        /// Largest frame accepted from the server.
        public var maxFrameBytes: Int
        /// When true, messages and events arrive together, in inbox order, on `entries`, and `messages` and
        /// `events` end at once; a consumer that must see both in order (a bot) sets it.
        public var combinedInbox: Bool
        /// Called with `true` each time a connection has logged in and with `false` when it ends (the client may
        /// then reconnect on its own); for health signals such as a bot's `connected` gauge.
        public var onConnectionChange: (@Sendable (Bool) -> Void)?

        /// Creates a configuration.
        public init(url: String, appKey: String, username: String, password: String, platform: String = "web",
                    device: String = "default", since: Int64? = nil, maxFrameBytes: Int = 1 << 20,
                    combinedInbox: Bool = false, onConnectionChange: (@Sendable (Bool) -> Void)? = nil) {
            self.combinedInbox = combinedInbox
            self.onConnectionChange = onConnectionChange
            self.url = url
            self.appKey = appKey
            self.username = username
            self.password = password
            self.platform = platform
            self.device = device
            self.since = since
            self.maxFrameBytes = maxFrameBytes
        }
    }

    /// Why a client call failed.
    public enum Failure: Error, Sendable, Equatable {
        /// The server refused the request with a JMessage error code.
        case rejected(ServerFrame.Failure)
        /// The connection closed (or was not up) before an answer arrived; resend with the same `requestID`.
        case connectionClosed
        /// The server sent something that is not a valid frame.
        case protocolViolation(String)
    }

    private struct State {
        var nextID = 0
        var pending: [String: CheckedContinuation<ServerFrame.Sent, any Error>] = [:]
        /// The first login's waiter; later logins (reconnects) have none.
        var login: CheckedContinuation<ServerFrame.LoginOK, any Error>?
        /// The current connection's outgoing frames; `nil` while disconnected.
        var outgoing: AsyncStream<ClientFrame>.Continuation?
        /// The failure that ended the last connection's login, if any.
        var loginFailure: ServerFrame.Failure?
        /// The highest sequence number handed to `messages`; resumes start after it and repeats are dropped.
        var lastSeq: Int64 = 0
        /// The login token of the last `login_ok`: reconnects present it instead of the password (no bcrypt on the
        /// server), and fall back to the password once if it is refused.
        var token: String?
        var closed = false
        /// The task that runs and re-runs connections; cancelled by `close()`.
        var supervisor: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let incoming: AsyncStream<ServerFrame.Delivery>.Continuation
    /// Every message delivered to this client, in inbox order, each once across reconnects; ends on `close()`
    /// or when reconnecting gives up.
    public let messages: AsyncStream<ServerFrame.Delivery>
    private let incomingEvents: AsyncStream<ServerFrame.EventDelivery>.Continuation
    /// Every event delivered to this client (membership, friends, retraction), in inbox order, each once across
    /// reconnects. Events share the inbox's sequence numbers with messages: acknowledge them the same way.
    public let events: AsyncStream<ServerFrame.EventDelivery>
    private let incomingEntries: AsyncStream<Entry>.Continuation
    /// With `Configuration.combinedInbox`, every message and event in inbox order, each once across reconnects;
    /// otherwise it ends at once.
    public let entries: AsyncStream<Entry>
    private let combined: Bool
    /// Whether messages and events arrive together on `entries` (`Configuration.combinedInbox`).
    public var isCombinedInbox: Bool { combined }
    let logger: Logger

    private init(combined: Bool, logger: Logger) {
        (messages, incoming) = AsyncStream.makeStream(of: ServerFrame.Delivery.self)
        (events, incomingEvents) = AsyncStream.makeStream(of: ServerFrame.EventDelivery.self)
        (entries, incomingEntries) = AsyncStream.makeStream(of: Entry.self)
        self.combined = combined
        self.logger = logger
        if combined {
            incoming.finish()
            incomingEvents.finish()
        } else {
            incomingEntries.finish()
        }
    }

    /// Connects and logs in; returns once the server accepted the first login, or throws its error.
    ///
    /// With a `reconnect` policy, a dropped connection is re-established in the background and resumes after
    /// the last sequence number received; sends in flight when it dropped fail with `connectionClosed`.
    public static func connect(_ configuration: Configuration, reconnect: ReconnectPolicy? = nil,
                               logger: Logger = Logger(label: "mynah.imclient"))
        async throws -> (client: IMClient, session: ServerFrame.LoginOK) {
        let client = IMClient(combined: configuration.combinedInbox, logger: logger)
        let session = try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServerFrame.LoginOK, any Error>) in
            client.state.withLock { s in
                s.login = c
                s.supervisor = Task { await client.supervise(configuration, reconnect: reconnect) }
            }
        }
        return (client, session)
    }

    /// Runs connections until the client is closed, the first login fails, a login is refused, or the
    /// reconnect policy gives up.
    private func supervise(_ configuration: Configuration, reconnect: ReconnectPolicy?) async {
        var generator = SystemRandomNumberGenerator()
        var failedAttempts = 0
        while true {
            let (stream, continuation) = AsyncStream.makeStream(of: ClientFrame.self)
            let start: (open: Bool, since: Int64?, token: String?) = state.withLock { s in
                if s.closed { return (false, nil, nil) }
                s.outgoing = continuation
                s.loginFailure = nil
                return (true, s.lastSeq > 0 ? s.lastSeq : configuration.since, s.token)
            }
            guard start.open else { break }
            let loggedIn = await runConnection(configuration, since: start.since, token: start.token, outgoing: stream)
            if loggedIn { configuration.onConnectionChange?(false) }
            let (firstLoginPending, refused, closed) = state.withLock { s in
                s.outgoing = nil
                if s.loginFailure != nil, start.token != nil {
                    // A refused token (expired, or the password changed): log in with the password once more.
                    s.token = nil
                }
                return (s.login != nil, s.loginFailure, s.closed)
            }
            failPending()
            if !closed, !firstLoginPending, start.token != nil, refused?.code == .authenticationFailed { continue }
            if closed || firstLoginPending || refused != nil { break }
            guard let reconnect else { break }
            failedAttempts = loggedIn ? 1 : failedAttempts + 1
            guard reconnect.allows(attempt: failedAttempts) else { break }
            let delay = reconnect.delay(attempt: failedAttempts, using: &generator)
            logger.debug("reconnecting", metadata: ["attempt": "\(failedAttempts)", "delay": "\(delay)"])
            do {
                try await Task.sleep(for: delay)
            } catch {
                break
            }
        }
        finish()
    }

    /// One WebSocket connection: login, then frames both ways until it closes. Returns whether it logged in.
    private func runConnection(_ configuration: Configuration, since: Int64?, token: String?,
                               outgoing: AsyncStream<ClientFrame>) async -> Bool {
        let login = ClientFrame.login(.init(appKey: configuration.appKey, username: configuration.username,
                                            password: token == nil ? configuration.password : "", token: token,
                                            platform: configuration.platform, device: configuration.device, since: since))
        let loggedIn = LoggedInFlag()
        do {
            try await WebSocketClient.connect(
                url: configuration.url, configuration: .init(maxFrameSize: configuration.maxFrameBytes), logger: logger
            ) { inbound, outbound, _ in
                try await outbound.write(.text(login.json.serializedString()))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await frame in outgoing {
                            try await outbound.write(.text(frame.json.serializedString()))
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                    for try await message in inbound.messages(maxSize: configuration.maxFrameBytes) {
                        guard case .text(let text) = message else { continue }
                        if self.dispatch(text) {
                            loggedIn.set()
                            configuration.onConnectionChange?(true)
                        }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("gateway connection ended", metadata: ["error": "\(error)"])
        }
        return loggedIn.value
    }

    /// Handles one server frame; returns true for `login_ok`.
    private func dispatch(_ text: String) -> Bool {
        let frame: ServerFrame
        do {
            frame = try ServerFrame(json: Array(text.utf8))
        } catch {
            logger.warning("invalid frame from server", metadata: ["error": "\(error)"])
            return false
        }
        switch frame {
        case .loginOK(let ok):
            state.withLock { $0.token = ok.token }
            takeLoginWaiter()?.resume(returning: ok)
            return true
        case .sent(let sent):
            guard let id = sent.id else { return false }
            state.withLock { $0.pending.removeValue(forKey: id) }?.resume(returning: sent)
        case .message(let delivery):
            guard claim(delivery.seq) else { return false }
            if combined { incomingEntries.yield(.message(delivery)) } else { incoming.yield(delivery) }
        case .event(let delivery):
            guard claim(delivery.seq) else { return false }
            if combined { incomingEntries.yield(.event(delivery)) } else { incomingEvents.yield(delivery) }
        case .error(let failure):
            if failure.fatal {
                state.withLock { $0.loginFailure = failure }
                if let login = takeLoginWaiter() {
                    login.resume(throwing: Failure.rejected(failure))
                    return false
                }
            }
            let waiter = failure.id.flatMap { id in state.withLock { $0.pending.removeValue(forKey: id) } }
            if let waiter {
                waiter.resume(throwing: Failure.rejected(failure))
            } else {
                logger.warning("gateway error", metadata: ["code": "\(failure.code)", "message": "\(failure.message)"])
            }
        case .pong:
            break
        }
        return false
    }

    /// Records an inbox entry as received; false for a repeat (a sequence number already seen), which is dropped.
    private func claim(_ seq: Int64) -> Bool {
        state.withLock { s in
            guard seq > s.lastSeq else { return false }
            s.lastSeq = seq
            return true
        }
    }

    /// Removes and returns the first login's waiter, if it is still waiting.
    private func takeLoginWaiter() -> CheckedContinuation<ServerFrame.LoginOK, any Error>? {
        state.withLock { s in
            defer { s.login = nil }
            return s.login
        }
    }

    private func failPending() {
        let pending = state.withLock { s in
            let p = s.pending
            s.pending = [:]
            return p
        }
        for c in pending.values { c.resume(throwing: Failure.connectionClosed) }
    }

    private func finish() {
        let outgoing = state.withLock { s in
            s.closed = true
            defer { s.outgoing = nil }
            return s.outgoing
        }
        outgoing?.finish()
        failPending()
        takeLoginWaiter()?.resume(throwing: Failure.connectionClosed)
        incoming.finish()
        incomingEvents.finish()
        incomingEntries.finish()
    }

    /// Sends a message; returns its `msg_id` once the server stored it durably.
    public func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServerFrame.Sent, any Error>) in
            let outgoing: AsyncStream<ClientFrame>.Continuation?
            var frame = message
            (frame.id, outgoing) = state.withLock { s in
                guard !s.closed, let outgoing = s.outgoing else { return (nil, nil) }
                s.nextID += 1
                let id = "s\(s.nextID)"
                s.pending[id] = c
                return (id, outgoing)
            }
            guard let outgoing, frame.id != nil else { return c.resume(throwing: Failure.connectionClosed) }
            if case .terminated = outgoing.yield(.send(frame)) {
                if let waiter = state.withLock({ $0.pending.removeValue(forKey: frame.id!) }) {
                    waiter.resume(throwing: Failure.connectionClosed)
                }
            }
        }
    }

    /// Acknowledges every inbox entry up to and including `seq`.
    public func ack(_ seq: Int64) {
        _ = state.withLock { $0.outgoing }?.yield(.ack(seq: seq))
    }

    /// Drops the current connection without closing the client (as a network change would); with a reconnect
    /// policy the client connects again and resumes.
    public func dropConnection() {
        state.withLock { $0.outgoing }?.finish()
    }

    /// Closes the client: the connection closes, pending sends fail with `connectionClosed`, `messages` ends.
    public func close() {
        let (outgoing, supervisor) = state.withLock { s in
            s.closed = true
            return (s.outgoing, s.supervisor)
        }
        outgoing?.finish()
        supervisor?.cancel()
    }
}

extension IMClient {
    /// One entry of an inbox: a message or an event; both share the inbox's sequence numbers.
    public enum Entry: Sendable, Hashable {
        /// A message.
        case message(ServerFrame.Delivery)
        /// An event (membership, friends, retraction).
        case event(ServerFrame.EventDelivery)

        /// The entry's position in the inbox, for `IMClient.ack(_:)`.
        public var seq: Int64 {
            switch self {
            case .message(let d): d.seq
            case .event(let e): e.seq
            }
        }
    }
}

/// Set once a connection's login succeeded.
private final class LoggedInFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var value: Bool { flag.load(ordering: .relaxed) }
}
