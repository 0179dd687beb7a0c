import Bridge
import Foundation
import Prometheus
import ServiceLifecycle

extension Daemon {
    /// The receipt callbacks' dispatcher, when the bridge has rules: one per node, claiming pushes in the bridge's
    /// store under this node's name (a fresh one per process on PostgreSQL, so a dead node's claims lapse to the
    /// others; one name on SQLite, whose only node takes its claims back at once after a restart).
    func receiptServices() -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let store = bridge.store as? any ReceiptStore, !configuration.bridge.configuration.rules.isEmpty else {
            return []
        }
        return [.init(service: ReceiptDispatcher(
            bridge: bridge, store: store, outbox: routing.store, apps: configuration.apps,
            policy: configuration.bridge.receiptCallbacks, factory: PrometheusMetricsFactory(registry: metrics),
            owner: postgres == nil ? "local" : "node-" + UUID().uuidString.lowercased(),
            lease: configuration.bridge.receiptCallbacks.lease, logger: logger))]
    }
}
