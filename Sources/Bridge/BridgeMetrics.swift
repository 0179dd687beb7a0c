import CoreMetrics
import Hub
import Metrics

/// The bridge's counters: pushes accepted, deliveries handed to the hub, receipts that did not come in time and
/// the escalations they caused. Labelled by rule where that tells an operator which sender has a problem.
struct BridgeMetrics: Sendable {
    let pushes: CounterFamily
    let escalations: CounterFamily
    let deliveries: Counter
    let expired: Counter

    init(factory: any MetricsFactory) {
        pushes = CounterFamily(label: "mynah_bridge_pushes_total", dimension: "rule", factory: factory)
        escalations = CounterFamily(label: "mynah_bridge_escalations_total", dimension: "action", factory: factory)
        deliveries = Counter(label: "mynah_bridge_deliveries_total", factory: factory)
        expired = Counter(label: "mynah_bridge_expired_total", factory: factory)
    }

    /// Counts a push accepted under `rule`.
    func accepted(rule: String) { pushes.increment(rule) }

    /// Counts a delivery stored in a user's inbox, or one that expired without reaching it.
    func delivered(_ ok: Bool) { ok ? deliveries.increment() : expired.increment() }

    /// Counts an escalation step run for an unreceived message.
    func escalated(action: String) { escalations.increment(action) }
}
