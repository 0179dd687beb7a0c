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

        /// Creates a configuration.
        public init(url: String, appKey: String, username: String, password: String, platform: String = "web",
                    device: String = "default", since: Int64? = nil, maxFrameBytes: Int = 1 << 20) {
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
        /// The connection closed before an answer arrived.
        case connectionClosed
        /// The server sent something that is not a valid frame.
        case protocolViolation(String)
    }

    private struct State {
        var nextID = 0
        var pending: [String: CheckedContinuation<ServerFrame.Sent, any Error>] = [:]
        var login: CheckedContinuation<ServerFrame.LoginOK, any Error>?
        var closed = false
    }

    private let state = Mutex(State())
    private let outgoing: AsyncStream<ClientFrame>.Continuation
    private let incoming: AsyncStream<ServerFrame.Delivery>.Continuation
    /// Every message delivered to this connection, in inbox order; ends when the connection closes.
    public let messages: AsyncStream<ServerFrame.Delivery>
    private let outgoingStream: AsyncStream<ClientFrame>
    let logger: Logger

    private init(logger: Logger) {
        (outgoingStream, outgoing) = AsyncStream.makeStream(of: ClientFrame.self)
        (messages, incoming) = AsyncStream.makeStream(of: ServerFrame.Delivery.self)
        self.logger = logger
    }

    /// Connects and logs in; returns once the server accepted the login, or throws its error.
    public static func connect(_ configuration: Configuration, logger: Logger = Logger(label: "mynah.imclient"))
        async throws -> (client: IMClient, session: ServerFrame.LoginOK) {
        let client = IMClient(logger: logger)
        let session = try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServerFrame.LoginOK, any Error>) in
            client.state.withLock { $0.login = c }
            Task { await client.run(configuration) }
        }
        return (client, session)
    }

    private func run(_ configuration: Configuration) async {
        let login = ClientFrame.login(.init(appKey: configuration.appKey, username: configuration.username,
                                            password: configuration.password, platform: configuration.platform,
                                            device: configuration.device, since: configuration.since))
        let outgoingStream = self.outgoingStream
        do {
            try await WebSocketClient.connect(
                url: configuration.url, configuration: .init(maxFrameSize: configuration.maxFrameBytes), logger: logger
            ) { inbound, outbound, _ in
                try await outbound.write(.text(login.json.serializedString()))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await frame in outgoingStream {
                            try await outbound.write(.text(frame.json.serializedString()))
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                    for try await message in inbound.messages(maxSize: configuration.maxFrameBytes) {
                        guard case .text(let text) = message else { continue }
                        self.dispatch(text)
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("gateway connection ended", metadata: ["error": "\(error)"])
        }
        finish()
    }

    private func dispatch(_ text: String) {
        let frame: ServerFrame
        do {
            frame = try ServerFrame(json: Array(text.utf8))
        } catch {
            logger.warning("invalid frame from server", metadata: ["error": "\(error)"])
            return
        }
        switch frame {
        case .loginOK(let ok):
            state.withLock { s in
                let c = s.login
                s.login = nil
                return c
            }?.resume(returning: ok)
        case .sent(let sent):
            guard let id = sent.id else { return }
            state.withLock { $0.pending.removeValue(forKey: id) }?.resume(returning: sent)
        case .message(let delivery):
            incoming.yield(delivery)
        case .error(let failure):
            let waiter: CheckedContinuation<ServerFrame.Sent, any Error>?
            let login = state.withLock { s in
                let c = s.login
                s.login = nil
                return c
            }
            if let login {
                login.resume(throwing: Failure.rejected(failure))
                return
            }
            waiter = failure.id.flatMap { id in state.withLock { $0.pending.removeValue(forKey: id) } }
            if let waiter {
                waiter.resume(throwing: Failure.rejected(failure))
            } else {
                logger.warning("gateway error", metadata: ["code": "\(failure.code)", "message": "\(failure.message)"])
            }
        case .pong:
            break
        }
    }

    private func finish() {
        let (pending, login) = state.withLock { s in
            s.closed = true
            let p = s.pending
            let l = s.login
            s.pending = [:]
            s.login = nil
            return (p, l)
        }
        for c in pending.values { c.resume(throwing: Failure.connectionClosed) }
        login?.resume(throwing: Failure.connectionClosed)
        incoming.finish()
        outgoing.finish()
    }

    /// Sends a message; returns its `msg_id` once the server stored it durably.
    public func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServerFrame.Sent, any Error>) in
            let id: String? = state.withLock { s in
                if s.closed { return nil }
                s.nextID += 1
                let id = "s\(s.nextID)"
                s.pending[id] = c
                return id
            }
            guard let id else { return c.resume(throwing: Failure.connectionClosed) }
            var frame = message
            frame.id = id
            outgoing.yield(.send(frame))
        }
    }

    /// Acknowledges every inbox entry up to and including `seq`.
    public func ack(_ seq: Int64) {
        outgoing.yield(.ack(seq: seq))
    }

    /// Closes the connection; pending sends fail with `connectionClosed`.
    public func close() {
        outgoing.finish()
    }
}
