import Hub
import IMProtocol
import NIOWebSocket

/// The protocol decisions of one gateway connection, apart from its I/O: ``GatewayConnection`` and ``GatewaySession``
/// take the client's messages, wait on the hub and write, and ask this machine what each event means. Each input (a frame decoded, the login checked,
/// a timer fired, the delivery failed) moves it on and returns the ``Action`` to take.
///
/// ```
/// awaitingLogin --login--> authenticating --authenticated--> openingSession --sessionOpened--> loggedIn
///   | other frame, bad frame,  | loginFailed                    | loginFailed, sessionEnded      | deliveryFailed,
///   | login timeout            |                                |                                | sessionEnded
///   +--------------------------+--------------------------------+-----------> closed <-----------+
/// ```
///
/// A value type with mutating transitions, like swift-nio's state machines: nothing is allocated per frame. The
/// connection holds it and applies each message's transitions in order (the login deadline's too, before any
/// message); events of other tasks (an administrator ending the session, the delivery failing) do not depend on what
/// the messages did meanwhile, and are applied to a copy taken when serving began (``sessionEnded()``,
/// ``deliveryFailed()``).
struct GatewaySessionState: Sendable {
    /// Where the connection is.
    enum State: Sendable, Equatable {
        /// The first frame must be `login`.
        case awaitingLogin
        /// The login frame came; its credentials (and the device's cursor) are being checked.
        case authenticating(ClientFrame.Login)
        /// The credentials are right; the device's presence session is being opened.
        case openingSession(ClientFrame.Login, User, resumeAfter: Int64)
        /// Logged in: sends, acknowledgements and pings are handled, deliveries flow.
        case loggedIn(ClientFrame.Login, User)
        /// Failed or ended: nothing more is done.
        case closed
    }

    /// What the connection does next.
    enum Action: Sendable, Equatable {
        /// Check the login's credentials with the hub, and read the device's stored cursor when `readCursor`
        /// (the login did not say where to resume); then ``authenticated(_:cursor:)`` or ``loginFailed(_:)``.
        case authenticate(ClientFrame.Login, readCursor: Bool)
        /// Open the device's presence session; then ``sessionOpened(serverTime:)`` or ``loginFailed(_:)``.
        case openSession(User, device: String, platform: String)
        /// Write `login_ok` and deliver the inbox after `resumeAfter`.
        case start(ServerFrame.LoginOK, resumeAfter: Int64)
        /// Answer the frame just read, in frame order.
        case answer(ServerFrame)
        /// Store the send; it is answered with `sent` or an error once stored.
        case store(ClientFrame.Send)
        /// Store the device's acknowledgement of every entry through `seq`.
        case acknowledge(Int64)
        /// Write the fatal error frame, then close with `code`.
        case fail(ServerFrame.Failure, code: WebSocketErrorCode)
        /// Close with `code` and `reason`, without a frame.
        case close(WebSocketErrorCode, reason: String)
        /// Nothing to do.
        case none
    }

    private(set) var state: State = .awaitingLogin
    /// How long a connection may take to send its login frame (for the timeout's message).
    let loginTimeout: Duration

    /// A connection that has just been accepted.
    init(loginTimeout: Duration) {
        self.loginTimeout = loginTimeout
    }

    /// A frame read from the client, or why it could not be decoded. `delivered` is the last entry sent to the
    /// client (an acknowledgement beyond it is refused); read only for acknowledgements.
    mutating func frameReceived(_ frame: Result<ClientFrame, ProtocolError>,
                                delivered: @autoclosure () -> Int64) -> Action {
        switch state {
        case .awaitingLogin:
            switch frame {
            case .success(.login(let login)):
                state = .authenticating(login)
                return .authenticate(login, readCursor: login.since == nil)
            case .success:
                return fail(.missingAuthentication, "op: the first frame must be login")
            case .failure(let error):
                return fail(.invalidParameter, error.description)
            }
        case .loggedIn:
            switch frame {
            case .success(.send(let send)):
                return .store(send)
            case .success(.ack(let seq)):
                let last = delivered()
                guard seq <= last else {
                    return .answer(.error(.init(code: .invalidParameter,
                                                message: "seq: \(seq) is beyond the last delivered entry \(last)")))
                }
                return .acknowledge(seq)
            case .success(.ping(let id)):
                return .answer(.pong(id: id))
            case .success(.login):
                return .answer(.error(.init(code: .invalidParameter, message: "op: already logged in")))
            case .failure(let error):
                return .answer(.error(.init(code: .invalidParameter, message: error.description)))
            }
        case .authenticating, .openingSession:
            preconditionFailure("no frame is read while logging in: \(state)")
        case .closed:
            return .none
        }
    }

    /// The login deadline passed: a connection still without its login frame is closed.
    mutating func loginTimerFired() -> Action {
        guard case .awaitingLogin = state else { return .none }
        return fail(.missingAuthentication, "login: no login frame within \(loginTimeout)")
    }

    /// The login's credentials are right; `cursor` is the device's stored cursor, read when the login did not say
    /// where to resume.
    mutating func authenticated(_ user: User, cursor: Int64?) -> Action {
        guard case .authenticating(let login) = state else {
            preconditionFailure("authenticated while \(state)")
        }
        let resumeAfter = login.since ?? cursor ?? 0
        state = .openingSession(login.withoutCredentials, user, resumeAfter: resumeAfter)
        return .openSession(user, device: login.device, platform: login.platform)
    }

    /// The device's presence session is open: the client is told it is logged in, and delivery starts.
    mutating func sessionOpened(serverTime: Int64) -> Action {
        guard case .openingSession(let login, let user, let resumeAfter) = state else {
            preconditionFailure("session opened while \(state)")
        }
        state = .loggedIn(login, user)
        return .start(.init(id: login.id, appKey: user.appKey, username: user.username, userType: user.kind,
                            lastAck: resumeAfter, serverTime: serverTime), resumeAfter: resumeAfter)
    }

    /// Checking the credentials, reading the cursor or opening the session failed: the client hears why, answering
    /// its login frame, and the connection closes.
    mutating func loginFailed(_ error: HubError) -> Action {
        switch state {
        case .authenticating(let login), .openingSession(let login, _, _):
            state = .closed
            return .fail(.init(id: login.id, code: error.code, message: error.message, fatal: true),
                         code: .policyViolation)
        default:
            preconditionFailure("login failed while \(state)")
        }
    }

    /// An administrator ended the session (the console's "end session"; it can come while the session opens).
    mutating func sessionEnded() -> Action {
        switch state {
        case .openingSession, .loggedIn: break
        default: return .none
        }
        return fail(.missingAuthentication, "session ended by an administrator")
    }

    /// Delivering the inbox failed: without it the connection is useless, so it closes and the client resumes
    /// elsewhere.
    mutating func deliveryFailed() -> Action {
        guard case .loggedIn = state else { return .none }
        state = .closed
        return .close(.unexpectedServerError, reason: "delivery failed")
    }

    private mutating func fail(_ code: ErrorCode, _ message: String) -> Action {
        state = .closed
        return .fail(.init(code: code, message: message, fatal: true), code: .policyViolation)
    }
}

extension ClientFrame.Login {
    /// The login without its password and token: what a session keeps once the credentials were checked, so that
    /// they are not held in memory for the connection's life.
    var withoutCredentials: Self {
        var login = self
        login.password = ""
        login.token = nil
        return login
    }
}
