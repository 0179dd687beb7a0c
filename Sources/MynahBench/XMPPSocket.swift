import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Synchronization
import XMPPScanner

/// A minimal XMPP client connection (RFC 6120/6121) for the side-by-side runs against ejabberd: plain TCP (no TLS),
/// optional in-band registration (XEP-0077), SASL PLAIN, resource binding, a session if the server requires one,
/// initial presence; then `<message type='chat'>` stanzas both ways. Incoming bytes go through `XMPPStreamScanner`
/// on the channel's event loop; nothing here waits on a task per connection.
final class XMPPSocket: Sendable {
    /// What the connection is for.
    enum Purpose: Sendable {
        /// Register the account in band, then close.
        case register
        /// Log in and stay online.
        case login
    }

    let channel: any Channel
    /// The domain part of every address (`user@domain`).
    let domain: String

    private init(channel: any Channel, domain: String) {
        self.channel = channel
        self.domain = domain
    }

    /// Connects to `host:port`, from `source` when given, and runs the stream negotiation for `purpose` as
    /// `username`/`resource`. Returns when online (or registered); throws what the server refused.
    static func connect(group: any EventLoopGroup, host: String, port: Int, source: String?, domain: String,
                        username: String, password: String, resource: String, purpose: Purpose,
                        onMessage: @escaping @Sendable (XMPPElement) -> Void,
                        onClose: @escaping @Sendable () -> Void) async throws -> XMPPSocket {
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        if let source {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        let negotiation = Negotiation(domain: domain, username: username, password: password, resource: resource,
                                      purpose: purpose)
        let handler = XMPPStreamHandler(negotiation: negotiation, onMessage: onMessage, onClose: onClose)
        let channel = try await bootstrap.connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(handler)
                return channel
            }
        }
        let socket = XMPPSocket(channel: channel, domain: domain)
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                handler.ready.withLock { $0 = c }
                socket.write(Negotiation.header(domain: domain, declaration: true))
            }
        } catch {
            socket.drop()
            throw error
        }
        if purpose == .register { socket.drop() }
        return socket
    }

    /// Writes raw stream bytes.
    func write(_ text: String) {
        channel.writeAndFlush(channel.allocator.buffer(string: text), promise: nil)
    }

    /// Sends a chat message with `body` to `username@domain` (the bare address, as a client addresses a contact).
    func sendChat(to username: String, body: String) {
        write("<message type='chat' to='\(XMPPElement.escape(username))@\(domain)'><body>"
              + XMPPElement.escape(body) + "</body></message>")
    }

    /// Closes the TCP connection without closing the stream (as a dropped network would).
    func drop() {
        // Aborted (SO_LINGER 0: a reset, no FIN), as a lost network leaves it: a FIN would leave this side's socket in
        // TIME_WAIT for a minute, and thousands of them on one loopback source address make the kernel's search for a
        // free port, at the storm's reconnects, cost the generator seconds of CPU.
        let channel = channel
        guard let socket = channel as? any SocketOptionProvider else { return channel.close(promise: nil) }
        socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The client side of stream negotiation as a state machine: each element the server sends moves it on and says
/// what to write next. Kept apart from I/O so the order of the steps reads in one place.
struct Negotiation: Sendable {
    enum Step: Sendable, Equatable {
        case features, registering, authenticating, restartedFeatures, binding, session, online
    }

    /// What to do after an element.
    enum Action: Equatable {
        case write(String)
        /// Negotiation is done (online, or registered): resume the waiter.
        case done
        case fail(String)
        case none
    }

    let domain: String
    let username: String
    let password: String
    let resource: String
    let purpose: XMPPSocket.Purpose
    private(set) var step = Step.features
    /// Whether the restarted stream's features ask for RFC 3921's session (a server may still require it).
    private var sessionRequired = false

    init(domain: String, username: String, password: String, resource: String, purpose: XMPPSocket.Purpose) {
        self.domain = domain
        self.username = username
        self.password = password
        self.resource = resource
        self.purpose = purpose
    }

    static func header(domain: String, declaration: Bool) -> String {
        (declaration ? "<?xml version='1.0'?>" : "")
            + "<stream:stream to='\(XMPPElement.escape(domain))' xmlns='jabber:client' "
            + "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    }

    var isOnline: Bool { step == .online }

    mutating func handle(_ element: XMPPElement) -> Action {
        switch (step, element.name) {
        case (.features, "stream:features"):
            if purpose == .register {
                guard element.child("register") != nil else { return .fail("the server offers no in-band registration") }
                step = .registering
                return .write("<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>"
                              + XMPPElement.escape(username) + "</username><password>"
                              + XMPPElement.escape(password) + "</password></query></iq>")
            }
            let mechanisms = element.child("mechanisms")?.children.map(\.text) ?? []
            guard mechanisms.contains("PLAIN") else { return .fail("the server offers no SASL PLAIN (\(mechanisms))") }
            step = .authenticating
            let credentials = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            return .write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>")
        case (.registering, "iq") where element[attribute: "id"] == "reg":
            if element[attribute: "type"] == "result" { return .done }
            return .fail("registration refused: \(element)")
        case (.authenticating, "success"):
            step = .restartedFeatures
            return .write(Self.header(domain: domain, declaration: false))
        case (.authenticating, "failure"):
            return .fail("authentication refused: \(element)")
        case (.restartedFeatures, "stream:features"):
            guard element.child("bind") != nil else { return .fail("the server offers no resource binding") }
            if let session = element.child("session") { sessionRequired = session.child("optional") == nil }
            step = .binding
            return .write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"
                          + XMPPElement.escape(resource) + "</resource></bind></iq>")
        case (.binding, "iq") where element[attribute: "id"] == "bind":
            guard element[attribute: "type"] == "result" else { return .fail("bind refused: \(element)") }
            // RFC 3921's session establishment, which RFC 6121 dropped: only when the server says it is not optional.
            if sessionRequired {
                step = .session
                return .write("<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
            }
            step = .online
            return .write("<presence/>")
        case (.session, "iq") where element[attribute: "id"] == "sess":
            guard element[attribute: "type"] == "result" else { return .fail("session refused: \(element)") }
            step = .online
            return .write("<presence/>")
        case (_, "stream:error"):
            return .fail("stream error: \(element)")
        default:
            return .none
        }
    }
}

/// Feeds a connection's bytes to the scanner and its elements to the negotiation, then messages to `onMessage`.
private final class XMPPStreamHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct State {
        var scanner = XMPPStreamScanner()
        var negotiation: Negotiation
    }

    private let state: Mutex<State>
    /// Resumed when negotiation ends, with the failure if any.
    let ready = Mutex<CheckedContinuation<Void, any Error>?>(nil)
    let onMessage: @Sendable (XMPPElement) -> Void
    let onClose: @Sendable () -> Void

    init(negotiation: Negotiation, onMessage: @escaping @Sendable (XMPPElement) -> Void,
         onClose: @escaping @Sendable () -> Void) {
        state = Mutex(State(negotiation: negotiation))
        self.onMessage = onMessage
        self.onClose = onClose
    }

    private func finish(_ error: (any Error)?) {
        guard let waiter = ready.withLock({ w in defer { w = nil }; return w }) else { return }
        if let error { waiter.resume(throwing: error) } else { waiter.resume() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let events: [XMPPStreamEvent]
        do {
            events = try state.withLock { s in
                try buffer.withUnsafeReadableBytes { try s.scanner.feed($0) }
            }
        } catch {
            finish(BenchError("\(error)"))
            context.close(promise: nil)
            return
        }
        for event in events {
            switch event {
            case .streamOpened:
                break
            case .streamClosed:
                finish(BenchError("the server closed the stream during negotiation"))
                context.close(promise: nil)
            case .element(let element):
                if element.name == "message" {
                    onMessage(element)
                    continue
                }
                let action = state.withLock { s -> Negotiation.Action in
                    s.negotiation.isOnline ? .none : s.negotiation.handle(element)
                }
                switch action {
                case .write(let text):
                    context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
                    if state.withLock({ $0.negotiation.isOnline }) { finish(nil) }
                case .done:
                    finish(nil)
                case .fail(let message):
                    finish(BenchError(message))
                    context.close(promise: nil)
                case .none:
                    break
                }
            }
        }
    }

    typealias OutboundOut = ByteBuffer

    func channelInactive(context: ChannelHandlerContext) {
        finish(BenchError("the connection closed during negotiation"))
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
