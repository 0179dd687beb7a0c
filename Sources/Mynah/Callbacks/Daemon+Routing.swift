import CoreMetrics
import Hub
import Logging
import ServiceLifecycle

/// A daemon's message routing: callbacks out of the hub (`callbacks:` of the apps) and in, for bots on the real
/// JMessage (`hub.jmessage`). Its state is opened only when the configuration uses either.
struct Routing: Sendable {
    /// `<data_dir>/callbacks.sqlite`.
    let outbox: CallbackOutbox?
    /// Sends the apps' messages to their callbacks.
    let dispatcher: CallbackDispatcher?
    /// Receives JMessage's callbacks for the bots on it.
    let inbound: JMessageInbound?

    static func open(_ configuration: MynahConfiguration, hub: Hub, factory: any MetricsFactory,
                     logger: Logger) async throws(ConfigurationError) -> Routing {
        let jmessageBots = configuration.bots.contains { $0.options.jmessage != nil }
        guard !configuration.callbacks.isEmpty || jmessageBots else {
            return Routing(outbox: nil, dispatcher: nil, inbound: nil)
        }
        let outbox: CallbackOutbox
        do {
            outbox = try CallbackOutbox(dataDirectory: configuration.dataDirectory)
        } catch {
            throw ConfigurationError(location: nil, path: "data_dir", message:
                "cannot open '\(CallbackOutbox.path(dataDirectory: configuration.dataDirectory))': \(error)")
        }
        var dispatcher: CallbackDispatcher?
        if !configuration.callbacks.isEmpty {
            guard let log = hub.store as? any MessageLogStore else {
                throw ConfigurationError(location: nil, path: "apps", message: "callbacks need the embedded SQLite store")
            }
            do {
                dispatcher = try await CallbackDispatcher(callbacks: configuration.callbacks, apps: configuration.apps,
                                                          log: log, outbox: outbox, factory: factory, logger: logger)
            } catch {
                throw ConfigurationError(location: nil, path: "apps", message: "cannot start message routing: \(error)")
            }
        }
        let inbound = jmessageBots ? JMessageInbound(bots: configuration.bots, outbox: outbox, logger: logger) : nil
        return Routing(outbox: outbox, dispatcher: dispatcher, inbound: inbound)
    }
}
