import Bridge
import CoreMetrics
import Foundation
import Hub
import Logging

extension Daemon {
    /// Opens the bridge's own store (`<data_dir>/bridge.sqlite`, or `store` on PostgreSQL), sets up the rules' robots and delivers what a
    /// crash left recorded but undelivered.
    static func openBridge(_ configuration: MynahConfiguration, hub: Hub, store configured: (any BridgeStore)? = nil,
                           logger: Logger, metrics: any MetricsFactory) async throws -> Bridge {
        let path = (configuration.dataDirectory as NSString).appendingPathComponent("bridge.sqlite")
        let store: any BridgeStore
        do {
            store = try configured ?? SQLiteBridgeStore(path: path)
        } catch {
            throw ConfigurationError(location: nil, path: "data_dir",
                                     message: "cannot open the bridge database '\(path)': \(error.localizedDescription)")
        }
        let section = configuration.bridge
        let bridge: Bridge
        do {
            bridge = try await Bridge(configuration: section.configuration, hub: hub, store: store, logger: logger,
                                      metrics: metrics)
        } catch {
            let location = section.ruleLocations.indices.contains(error.ruleIndex) ? section.ruleLocations[error.ruleIndex] : nil
            throw ConfigurationError(location: location, path: "bridge.rules[\(error.ruleIndex)].\(error.field)",
                                     message: error.message)
        }
        try await bridge.recover()
        return bridge
    }
}
