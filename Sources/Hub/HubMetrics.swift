import CoreMetrics
import Metrics
import IMProtocol

/// The hub's counters, timers and gauges: what an operator graphs to see traffic, refusals and online sessions.
/// Handles are made once, with the factory the daemon chose (Prometheus in `mynah run`, no-op by default).
public struct HubMetrics: Sendable {
    let factory: any MetricsFactory
    /// Accepted messages by target type (`single`, `group`, `chatroom`).
    let accepted: [TargetType: Counter]
    /// Inbox entries written: one per recipient device set, so fan-out shows here.
    let entries: Counter
    /// Time from a send's arrival to its durable commit.
    let sendDuration: Timer
    /// Gateway sessions open on this node.
    let sessions: Meter

    /// Makes the hub's metrics with `factory`; the default is the process-wide `MetricsSystem.factory`.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        accepted = Dictionary(uniqueKeysWithValues: [TargetType.single, .group, .chatroom].map { type in
            (type, Counter(label: "mynah_messages_accepted_total", dimensions: [("target_type", type.rawValue)],
                           factory: factory))
        })
        entries = Counter(label: "mynah_inbox_entries_total", factory: factory)
        sendDuration = Timer(label: "mynah_send_duration_seconds", factory: factory)
        sessions = Meter(label: "mynah_gateway_sessions", factory: factory)
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

    /// Counts a refused send by its JMessage error code (refusals are rare; the handle is made on the spot).
    func refused(_ code: ErrorCode) {
        Counter(label: "mynah_send_refused_total", dimensions: [("code", String(code.rawValue))], factory: factory)
            .increment()
    }
}
