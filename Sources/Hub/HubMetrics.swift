import CoreMetrics
import Metrics
import Synchronization
import IMProtocol

/// The hub's counters, timers and gauges: what an operator graphs to see traffic, refusals and online sessions.
/// Handles are made once, with the factory the daemon chose (Prometheus in `mynah run`, no-op by default).
public struct HubMetrics: Sendable {
    /// Accepted messages by target type (`single`, `group`, `chatroom`).
    let accepted: [TargetType: Counter]
    /// Inbox entries written: one per recipient device set, so fan-out shows here.
    let entries: Counter
    /// Time from a send's arrival to its durable commit.
    let sendDuration: Timer
    /// Gateway sessions open on this node.
    let sessions: Meter
    /// Failed sends by error code.
    let refusals: CounterFamily
    /// Logged-in gateway sessions' frames handled on the event loop that read them, and by the connection's task.
    let gatewayFrames: (eventLoop: Counter, task: Counter)

    /// Makes the hub's metrics with `factory`; the default is the process-wide `MetricsSystem.factory`.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        accepted = Dictionary(uniqueKeysWithValues: [TargetType.single, .group, .chatroom].map { type in
            (type, Counter(label: "mynah_messages_accepted_total", dimensions: [("target_type", type.rawValue)],
                           factory: factory))
        })
        entries = Counter(label: "mynah_inbox_entries_total", factory: factory)
        sendDuration = Timer(label: "mynah_send_duration_seconds", factory: factory)
        sessions = Meter(label: "mynah_gateway_sessions", factory: factory)
        refusals = CounterFamily(label: "mynah_send_refused_total", dimension: "code", factory: factory)
        gatewayFrames = (
            Counter(label: "mynah_gateway_frames_total", dimensions: [("handled", "event_loop")], factory: factory),
            Counter(label: "mynah_gateway_frames_total", dimensions: [("handled", "task")], factory: factory))
    }

    /// Records an accepted send and how long it took to be durable.
    func accepted(_ type: TargetType, after duration: Duration) {
        sendDuration.record(duration: duration)
        accepted[type]?.increment()
    }

    /// Counts inbox entries written by one append.
    func stored(entries count: Int) { entries.increment(by: count) }

    /// A gateway session opened.
    func sessionOpened() { sessions.increment() }

    /// A gateway session closed.
    func sessionClosed() { sessions.decrement() }

    /// Counts a logged-in gateway session's frame: handled on the event loop that read it, or by the connection's
    /// task (it waited for something, or came while another did).
    package func gatewayFrameHandled(onEventLoop: Bool) {
        (onEventLoop ? gatewayFrames.eventLoop : gatewayFrames.task).increment()
    }

    /// Counts a failed send by its JMessage error code.
    func refused(_ code: ErrorCode) { refusals.increment(String(code.rawValue)) }
}

/// Counters of one name told apart by one label whose values are known only at run time (error codes, rule
/// names): each is made on first use and kept, so counting is a dictionary lookup, not a registration.
public final class CounterFamily: Sendable {
    let label: String
    let dimension: String
    let factory: any MetricsFactory
    let counters = Mutex<[String: Counter]>([:])

    /// A family `label{dimension="..."}` made with `factory`.
    public init(label: String, dimension: String, factory: any MetricsFactory) {
        self.label = label
        self.dimension = dimension
        self.factory = factory
    }

    /// Adds one to the counter for `value`.
    public func increment(_ value: String) {
        counters.withLock { counters in
            if let counter = counters[value] { return counter }
            let counter = Counter(label: label, dimensions: [(dimension, value)], factory: factory)
            counters[value] = counter
            return counter
        }.increment()
    }
}
