import CoreMetrics
import Hub
import HubPostgres
import Logging
import ServiceLifecycle

/// A daemon's message routing: callbacks out of the hub (`callbacks:` of the apps) and in, for bots on the real
/// JMessage (`hub.jmessage`).
struct Routing: Sendable {
    /// `<data_dir>/callbacks.sqlite`: routing's state on SQLite, and the inbox of bots on JMessage.
    let outbox: CallbackOutbox?
    /// Routing's cursors and dead letters (and push receipts' dead letters): the outbox on SQLite, the cluster's
    /// tables on PostgreSQL.
    let store: (any RoutingStore)?
    /// Sends the apps' messages to their callbacks.
    let dispatcher: CallbackDispatcher?
    /// Receives JMessage's callbacks for the bots on it.
    let inbound: JMessageInbound?

    /// Opens routing's state and its dispatcher. Routing is always ready (so that a reload can add callbacks); on
    /// PostgreSQL it runs on the one node holding the `callbacks` lease, from the cluster's cursors.
    static func open(_ configuration: MynahConfiguration, hub: Hub, database: PostgresStorage?, leases: PostgresLeases?,
                     factory: any MetricsFactory, logger: Logger) async throws(ConfigurationError) -> Routing {
        let jmessageBots = configuration.bots.contains { $0.options.jmessage != nil }
        let log = hub.store as? any MessageLogStore
        if log == nil && !configuration.callbacks.isEmpty {
            throw ConfigurationError(location: nil, path: "apps", message: "callbacks need a store with a message log")
        }
        var outbox: CallbackOutbox?
        if (log != nil && database == nil) || jmessageBots {
            do {
                outbox = try CallbackOutbox(dataDirectory: configuration.dataDirectory)
            } catch {
                throw ConfigurationError(location: nil, path: "data_dir", message:
                    "cannot open '\(CallbackOutbox.path(dataDirectory: configuration.dataDirectory))': \(error)")
            }
        }
        let store: (any RoutingStore)? = database.map { PostgresRoutingStore(database: $0) } ?? outbox
        var dispatcher: CallbackDispatcher?
        if let log, let store {
            do {
                dispatcher = try await CallbackDispatcher(callbacks: configuration.callbacks, apps: configuration.apps,
                                                          log: log, outbox: store, leases: leases, factory: factory,
                                                          logger: logger)
            } catch {
                throw ConfigurationError(location: nil, path: "apps", message: "cannot start message routing: \(error)")
            }
        }
        let inbound = jmessageBots ? outbox.map { JMessageInbound(bots: configuration.bots, outbox: $0, logger: logger) } : nil
        return Routing(outbox: outbox, store: store, dispatcher: dispatcher, inbound: inbound)
    }

    /// Checks that a reloaded configuration's callbacks can be applied: routing runs and every callback's
    /// app is one the daemon started with (apps need a restart).
    func validate(_ configuration: MynahConfiguration, running: MynahConfiguration) throws(ConfigurationError) {
        guard !configuration.callbacks.isEmpty else { return }
        guard dispatcher != nil else {
            throw ConfigurationError(location: nil, path: "apps", message: "callbacks need a store with a message log")
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
