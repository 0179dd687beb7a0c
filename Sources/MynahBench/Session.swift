import Dispatch
import IMProtocol
import NIOCore
import Synchronization
import XMPPScanner

/// Monotonic nanoseconds of this process; every latency is a difference of two of these.
func monotonicNanos() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// One logged-in connection of the generator (to Mynah's gateway, or over XMPP to a peer server), with the counters
/// the scenarios read.
final class Session: Sendable {
    let index: Int
    let username: String
    let password: String
    let device: String
    private let socket = Mutex<BenchSocket?>(nil)
    private let xmpp = Mutex<XMPPSocket?>(nil)
    private let loginWaiter = Mutex<CheckedContinuation<Void, any Error>?>(nil)
    /// The login token of the last `login_ok`; a reconnect presents it instead of the password, as clients do.
    private let token = Mutex<String?>(nil)
    /// Whether reconnects present the token (`storm --password-login` turns it off).
    let reconnectsWithToken = Atomic<Bool>(true)
    /// Sends written and not yet answered by `sent` or `error` (Mynah only: XMPP does not answer messages).
    let inflight = Atomic<Int>(0)
    /// Messages sent and not yet delivered to their recipient (the pairs scenario keeps its window on this).
    let awaitingDelivery = Atomic<Int>(0)
    /// Messages received on this session (all connections it had).
    let received = Atomic<Int>(0)
    /// The highest inbox sequence number received; acknowledged every `ackEvery` messages.
    let lastSeq = Atomic<Int64>(0)
    /// Set when the current connection closed.
    let closed = Atomic<Bool>(false)
    let recorder: Recorder

    init(index: Int, username: String, password: String, device: String = "bench", recorder: Recorder) {
        self.index = index
        self.username = username
        self.password = password
        self.device = device
        self.recorder = recorder
    }

    /// Connects (from `source` when given), logs in and waits for `login_ok` (XMPP: until bound and present).
    func connect(_ target: Target, group: any EventLoopGroup, source: String?) async throws {
        closed.store(false, ordering: .relaxed)
        if let domain = target.xmppDomain {
            let x = try await XMPPSocket.connect(
                group: group, host: target.host, port: target.port, source: source, domain: domain,
                username: username, password: password, resource: device, purpose: .login,
                onMessage: { [self] element in self.handle(xmpp: element) },
                onClose: { [self] in self.connectionClosed() })
            xmpp.withLock { $0 = x }
            return
        }
        let s = try await BenchSocket.connect(
            group: group, host: target.host, port: target.port, source: source,
            onText: { [self] buffer in self.handle(buffer) },
            onClose: { [self] in self.connectionClosed() })
        socket.withLock { $0 = s }
        let presented = reconnectsWithToken.load(ordering: .relaxed) ? token.withLock { $0 } : nil
        let login = ClientFrame.login(.init(appKey: target.appKey, username: username,
                                            password: presented == nil ? password : "", token: presented,
                                            platform: "web", device: device))
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            loginWaiter.withLock { $0 = c }
            s.send(login.json.serializedString())
        }
    }

    /// Writes a text message to `targetID` whose body carries the send id `id`.
    func send(id: Int, targetType: TargetType, targetID: String) {
        if let x = xmpp.withLock({ $0 }) {
            x.sendChat(to: targetID, body: "bench#\(id)")
            return
        }
        inflight.add(1, ordering: .relaxed)
        let frame = ClientFrame.send(.init(id: "s\(id)", targetType: targetType, targetID: targetID,
                                           body: .text("bench#\(id)")))
        write(frame.json.serializedString())
    }

    func write(_ text: String) {
        socket.withLock { $0 }?.send(text)
    }

    /// Closes the connection without a close handshake.
    func drop() {
        socket.withLock { $0 }?.drop()
        xmpp.withLock { $0 }?.drop()
    }

    /// An XMPP stanza after negotiation: a chat message counts as a delivery, an error message as an error.
    private func handle(xmpp message: XMPPElement) {
        if message[attribute: "type"] == "error" {
            recorder.errors.add(1, ordering: .relaxed)
            recorder.noteError("\(message)")
            return
        }
        let count = received.add(1, ordering: .relaxed).newValue
        recorder.delivered(session: self, text: message.child("body")?.text, count: count)
    }

    private func connectionClosed() {
        closed.store(true, ordering: .relaxed)
        recorder.closed.add(1, ordering: .relaxed)
        loginWaiter.withLock { w in
            defer { w = nil }
            return w
        }?.resume(throwing: BenchError("\(username): the connection closed before login_ok"))
    }

    private func handle(_ buffer: ByteBuffer) {
        let frame: ServerFrame
        do {
            frame = try ServerFrame(json: buffer.readableBytesView)
        } catch {
            recorder.errors.add(1, ordering: .relaxed)
            return
        }
        switch frame {
        case .loginOK(let ok):
            token.withLock { $0 = ok.token }
            loginWaiter.withLock { w in
                defer { w = nil }
                return w
            }?.resume()
        case .sent(let sent):
            inflight.subtract(1, ordering: .relaxed)
            recorder.accepted(session: self, id: sent.id)
        case .message(let delivery):
            lastSeq.store(delivery.seq, ordering: .relaxed)
            let count = received.add(1, ordering: .relaxed).newValue
            recorder.delivered(session: self, text: delivery.stored.message.body.text, count: count)
            if count % recorder.ackEvery == 0 {
                write(ClientFrame.ack(seq: delivery.seq).json.serializedString())
            }
        case .event:
            break
        case .error(let failure):
            if failure.fatal {
                let waiter = loginWaiter.withLock { w in
                    defer { w = nil }
                    return w
                }
                if let waiter {
                    waiter.resume(throwing: BenchError("\(username): login refused: \(failure.code) \(failure.message)"))
                    return
                }
            }
            recorder.errors.add(1, ordering: .relaxed)
            recorder.noteError("\(failure.code) \(failure.message)")
            if failure.id != nil {
                inflight.subtract(1, ordering: .relaxed)
                recorder.accepted(session: self, id: nil)
            }
        case .pong:
            break
        }
    }
}

/// Where the daemon is and which app the generator uses.
struct Target: Sendable {
    var host: String
    var port: Int
    var appKey: String
    var secret: String
    /// The XMPP domain when the server is driven over XMPP (a peer such as ejabberd) instead of Mynah's gateway.
    var xmppDomain: String? = nil
}

/// The shared measurements of one run: send start times, latency samples and counters.
final class Recorder: Sendable {
    private let starts = Mutex<[UInt64]>([])
    private let samples = Mutex<[UInt64]>([])
    private let firstError = Mutex<String?>(nil)
    /// Sends answered by `sent`.
    let acceptedCount = Atomic<Int>(0)
    /// Messages received by sessions carrying a send id.
    let deliveredCount = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
    /// Whether new sends may start (closed-loop refills stop when false).
    let running = Atomic<Bool>(false)
    let ackEvery: Int
    /// Called after each answered send, for closed-loop refills.
    let onAccepted = Mutex<Hook<Session>?>(nil)
    /// Called after each delivery with the session's running message count.
    let onDelivered = Mutex<Hook<(Session, Int)>?>(nil)

    init(ackEvery: Int = 50) {
        self.ackEvery = ackEvery
    }

    /// Send ids reserved so far.
    var sendsBegun: Int { starts.withLock { $0.count } }

    /// Reserves a send id and records its start time.
    func begin() -> Int {
        let now = monotonicNanos()
        return starts.withLock { s in
            s.append(now)
            return s.count - 1
        }
    }

    func accepted(session: Session, id: String?) {
        if id != nil { acceptedCount.add(1, ordering: .relaxed) }
        onAccepted.withLock { $0 }?.call(session)
    }

    func delivered(session: Session, text: String?, count: Int) {
        let now = monotonicNanos()
        if let text, text.hasPrefix("bench#"), let id = Int(text.dropFirst(6)) {
            let start = starts.withLock { $0.indices.contains(id) ? $0[id] : nil }
            if let start {
                samples.withLock { $0.append(now &- start) }
                deliveredCount.add(1, ordering: .relaxed)
            }
        }
        onDelivered.withLock { $0 }?.call((session, count))
    }

    /// Records a latency sample measured elsewhere (catch-up times).
    func sample(_ nanos: UInt64) {
        samples.withLock { $0.append(nanos) }
    }

    func noteError(_ message: String) {
        firstError.withLock { if $0 == nil { $0 = message } }
    }

    var firstErrorMessage: String? { firstError.withLock { $0 } }

    /// p50, p99 and p99.9 in milliseconds of all samples, and their count.
    func percentiles() -> (count: Int, p50: Double, p99: Double, p999: Double, max: Double) {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return (0, 0, 0, 0, 0) }
        func at(_ q: Double) -> Double {
            let i = min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)
            return Double(sorted[max(0, i)]) / 1e6
        }
        return (sorted.count, at(0.5), at(0.99), at(0.999), Double(sorted.last!) / 1e6)
    }
}

/// A callback held by reference. A closure stored directly in a `Mutex` is re-wrapped in reabstraction thunks by
/// every `withLock` that reads it, so a hook read per message grew a chain of thunks that took over half of the
/// generator's CPU in the storm; a class reference is read as a pointer.
final class Hook<Argument>: Sendable {
    let call: @Sendable (Argument) -> Void

    init(_ call: @escaping @Sendable (Argument) -> Void) { self.call = call }
}
