import Hub
import IMProtocol
import NIOWebSocket
@testable import Server
import Testing

/// The gateway connection's protocol decisions, input by input, without a socket.
@Suite("GatewaySessionState")
struct GatewaySessionStateTests {
    typealias Machine = GatewaySessionState

    static let user = User(id: 7, appKey: "app", username: "alice", kind: .user, profile: Profile(), ctime: 1, mtime: 1)
    static let login = ClientFrame.Login(id: "l1", appKey: "app", username: "alice", password: "pw", platform: "ios",
                                         device: "phone")
    static let send = ClientFrame.Send(id: "s1", targetID: "bob", body: .text("hi"))

    /// A machine that has been through a whole login, resuming after `cursor`.
    static func loggedIn(cursor: Int64 = 5) -> Machine {
        var machine = Machine(loginTimeout: .seconds(10))
        _ = machine.frameReceived(.success(.login(login)), delivered: 0)
        _ = machine.authenticated(user, cursor: cursor)
        _ = machine.sessionOpened(serverTime: 1_000)
        return machine
    }

    static func fatal(_ code: ErrorCode, _ message: String, id: String? = nil) -> Machine.Action {
        .fail(.init(id: id, code: code, message: message, fatal: true), code: .policyViolation)
    }

    @Test("a whole login: credentials, then the device's cursor when the login does not say where to resume")
    func login() {
        var machine = Machine(loginTimeout: .seconds(10))
        #expect(machine.frameReceived(.success(.login(Self.login)), delivered: 0)
            == .authenticate(Self.login, readCursor: true))
        #expect(machine.state == .authenticating(Self.login))
        #expect(machine.authenticated(Self.user, cursor: 5) == .openSession(Self.user, device: "phone", platform: "ios"))
        #expect(machine.sessionOpened(serverTime: 1_000) == .start(
            .init(id: "l1", appKey: "app", username: "alice", userType: .user, lastAck: 5, serverTime: 1_000),
            resumeAfter: 5))
        // The password (and a token) are not kept once checked.
        #expect(machine.state == .loggedIn(Self.login.withoutCredentials, Self.user))
        guard case .loggedIn(let kept, _) = machine.state else { return }
        #expect(kept.password.isEmpty && kept.token == nil && kept.device == "phone" && kept.platform == "ios")
    }

    @Test("a login with since resumes there and reads no cursor")
    func loginWithSince() {
        var login = Self.login
        login.since = 42
        var machine = Machine(loginTimeout: .seconds(10))
        #expect(machine.frameReceived(.success(.login(login)), delivered: 0) == .authenticate(login, readCursor: false))
        _ = machine.authenticated(Self.user, cursor: nil)
        guard case .start(let ok, let resumeAfter) = machine.sessionOpened(serverTime: 1) else {
            Issue.record("expected start")
            return
        }
        #expect(resumeAfter == 42)
        #expect(ok.lastAck == 42)
    }

    @Test("before login, any other frame or an undecodable one is fatal (1008) and the machine is closed")
    func firstFrameMustBeLogin() {
        for frame in [ClientFrame.send(Self.send), .ack(seq: 1), .ping(id: "p")] {
            var machine = Machine(loginTimeout: .seconds(10))
            #expect(machine.frameReceived(.success(frame), delivered: 0)
                == Self.fatal(.missingAuthentication, "op: the first frame must be login"))
            #expect(machine.state == .closed)
        }
        var machine = Machine(loginTimeout: .seconds(10))
        let error = ProtocolError(path: "op", reason: "required")
        #expect(machine.frameReceived(.failure(error), delivered: 0) == Self.fatal(.invalidParameter, "op: required"))
        #expect(machine.state == .closed)
        #expect(machine.frameReceived(.success(.login(Self.login)), delivered: 0) == .none)
    }

    @Test("the login deadline closes only a connection still waiting for its login frame")
    func loginTimeout() {
        var waiting = Machine(loginTimeout: .seconds(3))
        #expect(waiting.loginTimerFired() == Self.fatal(.missingAuthentication, "login: no login frame within 3.0 seconds"))
        #expect(waiting.state == .closed)
        var authenticating = Machine(loginTimeout: .seconds(3))
        _ = authenticating.frameReceived(.success(.login(Self.login)), delivered: 0)
        #expect(authenticating.loginTimerFired() == .none)
        var loggedIn = Self.loggedIn()
        #expect(loggedIn.loginTimerFired() == .none)
    }

    @Test("wrong credentials, an unreadable cursor or a session that cannot open answer the login frame, fatally")
    func loginFailures() {
        let error = HubError(.authenticationFailed, "wrong password")
        var authenticating = Machine(loginTimeout: .seconds(10))
        _ = authenticating.frameReceived(.success(.login(Self.login)), delivered: 0)
        #expect(authenticating.loginFailed(error) == Self.fatal(.authenticationFailed, "wrong password", id: "l1"))
        #expect(authenticating.state == .closed)

        var opening = Machine(loginTimeout: .seconds(10))
        _ = opening.frameReceived(.success(.login(Self.login)), delivered: 0)
        _ = opening.authenticated(Self.user, cursor: 0)
        #expect(opening.loginFailed(.storage) == Self.fatal(.internalError, "internal storage error", id: "l1"))
        #expect(opening.state == .closed)
    }

    @Test("logged in: a send is stored, a ping answered, a second login and a bad frame answered with an error")
    func loggedInFrames() {
        var machine = Self.loggedIn()
        #expect(machine.frameReceived(.success(.send(Self.send)), delivered: 5) == .store(Self.send))
        #expect(machine.frameReceived(.success(.ping(id: "p1")), delivered: 5) == .answer(.pong(id: "p1")))
        #expect(machine.frameReceived(.success(.login(Self.login)), delivered: 5)
            == .answer(.error(.init(code: .invalidParameter, message: "op: already logged in"))))
        #expect(machine.frameReceived(.failure(ProtocolError(path: "seq", reason: "expected an integer")), delivered: 5)
            == .answer(.error(.init(code: .invalidParameter, message: "seq: expected an integer"))))
        #expect(machine.state == .loggedIn(Self.login.withoutCredentials, Self.user))
    }

    @Test("an acknowledgement up to the last delivered entry is stored; one beyond it is refused, not fatally")
    func acknowledgements() {
        var machine = Self.loggedIn()
        #expect(machine.frameReceived(.success(.ack(seq: 9)), delivered: 9) == .acknowledge(9))
        #expect(machine.frameReceived(.success(.ack(seq: 3)), delivered: 9) == .acknowledge(3))
        #expect(machine.frameReceived(.success(.ack(seq: 10)), delivered: 9) == .answer(.error(.init(
            code: .invalidParameter, message: "seq: 10 is beyond the last delivered entry 9"))))
        #expect(machine.state == .loggedIn(Self.login.withoutCredentials, Self.user))
    }

    @Test("the delivered position is read for acknowledgements only")
    func deliveredReadOnlyForAcks() {
        var machine = Self.loggedIn()
        var reads = 0
        func delivered() -> Int64 {
            reads += 1
            return 5
        }
        _ = machine.frameReceived(.success(.send(Self.send)), delivered: delivered())
        _ = machine.frameReceived(.success(.ping(id: nil)), delivered: delivered())
        #expect(reads == 0)
        _ = machine.frameReceived(.success(.ack(seq: 5)), delivered: delivered())
        #expect(reads == 1)
    }

    @Test("an administrator ending the session is fatal once it opens; before that there is none to end")
    func sessionEnded() {
        var loggedIn = Self.loggedIn()
        #expect(loggedIn.sessionEnded() == Self.fatal(.missingAuthentication, "session ended by an administrator"))
        #expect(loggedIn.state == .closed)
        var opening = Machine(loginTimeout: .seconds(10))
        _ = opening.frameReceived(.success(.login(Self.login)), delivered: 0)
        _ = opening.authenticated(Self.user, cursor: 0)
        #expect(opening.sessionEnded() == Self.fatal(.missingAuthentication, "session ended by an administrator"))
        var waiting = Machine(loginTimeout: .seconds(10))
        #expect(waiting.sessionEnded() == .none)
    }

    @Test("a failed delivery closes a logged-in connection with 1011, without a frame, and only once")
    func deliveryFailed() {
        var machine = Self.loggedIn()
        #expect(machine.deliveryFailed() == .close(.unexpectedServerError, reason: "delivery failed"))
        #expect(machine.state == .closed)
        #expect(machine.deliveryFailed() == .none)
        #expect(machine.frameReceived(.success(.send(Self.send)), delivered: 5) == .none)
    }
}
