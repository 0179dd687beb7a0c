import CoreMetrics
import Metrics

/// The bridge's counters: pushes accepted, deliveries handed to the hub, receipts that did not come in time and
/// the escalations they caused. Labelled by rule where that tells an operator which sender has a problem.
struct BridgeMetrics: Sendable {
    let factory: any MetricsFactory
    let deliveries: Counter
    let expired: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        deliveries = Counter(label: "mynah_bridge_deliveries_total", factory: factory)
        expired = Counter(label: "mynah_bridge_expired_total", factory: factory)
    }

    /// Counts a push accepted under `rule`.
    func accepted(rule: String) {
        Counter(label: "mynah_bridge_pushes_total", dimensions: [("rule", rule)], factory: factory).increment()
    }

    /// Counts a delivery stored in a user's inbox, or one that expired without reaching it.
    func delivered(_ ok: Bool) { ok ? deliveries.increment() : expired.increment() }

    /// Counts an escalation step run for an unreceived message.
    func escalated(action: String) {
        Counter(label: "mynah_bridge_escalations_total", dimensions: [("action", action)], factory: factory).increment()
    }
}
