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
        // On SQLite routing is always ready, so that a reload can add callbacks. PostgreSQL's log is in commit order
        // too, but the dispatcher's cursors and dead letters are per node (`callbacks.sqlite`) and every node would
        // run one: routing there waits for one dispatcher per cluster (docs/callbacks.md).
        let log = (hub.store as? SQLiteHubStore).map { $0 as any MessageLogStore }
        if log == nil && !configuration.callbacks.isEmpty {
            throw ConfigurationError(location: nil, path: "apps", message: "callbacks need the embedded SQLite store")
        }
        guard log != nil || jmessageBots else {
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
        if let log {
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

    /// Checks that a reloaded configuration's callbacks can be applied: routing runs (SQLite) and every callback's
    /// app is one the daemon started with (apps need a restart).
    func validate(_ configuration: MynahConfiguration, running: MynahConfiguration) throws(ConfigurationError) {
        guard !configuration.callbacks.isEmpty else { return }
        guard dispatcher != nil else {
            throw ConfigurationError(location: nil, path: "apps", message: "callbacks need the embedded SQLite store")
        }
        let apps = Set(running.apps.map(\.appKey))
        for callback in configuration.callbacks where !apps.contains(callback.appKey) {
            throw ConfigurationError(location: nil, path: "apps", message:
                "callback \(callback.url): appkey '\(callback.appKey)' is not an app of the running daemon (apps need a restart)")
        }
    }

    /// Applies a reloaded configuration's callbacks (see ``CallbackDispatcher/apply(_:)``).
    func apply(_ configuration: MynahConfiguration) async throws(ConfigurationError) {
        guard let dispatcher else { return }
        do {
            try await dispatcher.apply(configuration.callbacks)
        } catch {
            throw ConfigurationError(location: nil, path: "apps", message: "cannot apply the callbacks: \(error)")
        }
    }
}
