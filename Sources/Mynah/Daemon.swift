import BotKit
import Bridge
import Foundation
import Hub
import HubPostgres
import Logging
import Prometheus
import Server
import ServiceLifecycle
import Synchronization

/// The whole daemon, composed from a configuration: the store, the hub, the HTTP server with the gateway,
/// and the bots.
///
/// ```swift
/// let daemon = try await Daemon(configuration: ConfigurationLoader.load(path: "bots.yaml"))
/// try await daemon.run()                                     // until SIGINT or SIGTERM
/// try await daemon.withRunning { port in /* talk to 127.0.0.1:port */ }   // in tests
/// ```
public final class Daemon: Sendable {
    /// Knobs that are not part of `bots.yaml`.
    public struct Options: Sendable {
        /// bcrypt cost for password hashes; tests lower it.
        public var passwordCost: UInt8
        /// The plugins `swift:` may name.
        public var plugins: PluginRegistry
        /// Limits of the WebSocket gateway.
        public var gateway: Gateway.Configuration
        /// The hub's clock in milliseconds; tests move it by hand to expire offline messages.
        public var clock: @Sendable () -> Int64
        /// How often the bridge checks receipt deadlines and TTLs; 1 s by default.
        public var bridgeInterval: Duration = .seconds(1)
        /// The bots' clock for schedules, reminders and rate limits; tests move it by hand.
        public var botClock: any BotClock = SystemBotClock()
        /// The configuration file SIGHUP re-reads; `nil` disables reloading by signal.
        public var configurationPath: String?
        /// How long a graceful shutdown (after SIGINT or SIGTERM) may take before the process exits anyway; 10 s.
        public var shutdownTimeout: Duration = .seconds(10)
        /// A benchmark knob: embedded bots log in over the daemon's own gateway (a loopback WebSocket, once HTTP
        /// listens) instead of in process, to measure one against the other (BENCHMARKS.md).
        public var botsOverGateway = false
        /// The process that started the daemon and whose end stops it, as SIGTERM does (`mynah run
        /// --exit-with-parent`); `nil`, the default, lets the daemon outlive whoever started it. For tests and
        /// supervisors that run mynah as a child: a child left behind by a parent that crashed ends by itself.
        public var parentProcess: Int32?

        /// Creates options with production defaults.
        public init(passwordCost: UInt8 = 10, plugins: PluginRegistry = .builtIn,
                    gateway: Gateway.Configuration = .init(), clock: @escaping @Sendable () -> Int64 = Hub.nowMillis) {
            self.passwordCost = passwordCost
            self.plugins = plugins
            self.gateway = gateway
            self.clock = clock
        }
    }

    /// The configuration the daemon runs.
    public let configuration: MynahConfiguration
    /// The hub.
    public let hub: Hub
    /// The push bridge (JPush v3 API, receipts, escalation).
    public let bridge: Bridge
    /// The daemon's metrics (hub, bots, bridge), served at `GET /metrics` unless `metrics.enabled` is false.
    public let metrics = PrometheusCollectorRegistry()
    let bridgeInterval: Duration
    let shutdownTimeout: Duration
    let bots: [BotService.Entry]
    let botRuntime: BotRuntime
    let gateway: Gateway.Configuration
    let botsOverGateway: Bool
    let logger: Logger
    let port = PortSignal()
    /// Message routing in and out (docs/callbacks.md).
    let routing: Routing
    /// The PostgreSQL pool when `storage.postgres` is set; closed when the daemon stops.
    let postgres: PostgresStorage?
    /// The bots' leases when `storage.postgres` is set (each bot runs on one node of the cluster); released when
    /// the pool closes.
    let leases: PostgresLeases?

    /// Opens the store under `data_dir`, starts the hub, registers the bots' robot accounts and builds their plugins.
    public init(configuration: MynahConfiguration, options: Options = Options(),
                logger: Logger = Logger(label: "mynah")) async throws {
        self.configuration = configuration
        self.logger = logger
        self.gateway = configuration.gateway.applied(to: options.gateway)
        self.botsOverGateway = options.botsOverGateway
        try Self.check(configuration, registry: options.plugins)
        let storage = try await Self.openStorage(configuration, logger: logger)
        let store = storage.hub
        postgres = storage.postgres
        leases = storage.postgres.map { database in
            let leases = PostgresLeases(settings: database.settings, logger: logger)
            database.onClose { await leases.stop() }
            return leases
        }
        let factory = PrometheusMetricsFactory(registry: metrics)
        hub = try await Hub(
            configuration: .init(
                apps: configuration.apps,
                passwordCost: options.passwordCost, clock: options.clock, metrics: HubMetrics(factory: factory)),
            store: store, bus: storage.bus, presence: storage.presence, logger: logger)
        let port = self.port
        let host = Self.loopbackHost(configuration.listen.host)
        let runtime = try BotRuntime(dataDirectory: configuration.dataDirectory, storage: storage.plugins,
                                     registry: options.plugins,
                                     clock: options.botClock, configurationPath: options.configurationPath,
                                     logger: logger, metrics: factory,
                                     localHub: { "http://\(host):\((try? await port.wait()) ?? 0)" })
        botRuntime = runtime
        try await runtime.ensureRobots(configuration, hub: hub)
        routing = try await Routing.open(configuration, hub: hub, database: storage.postgres, leases: leases,
                                         factory: factory, logger: logger)
        self.bots = try runtime.makeBots(configuration)
        bridge = try await Self.openBridge(configuration, hub: hub, store: storage.bridge, logger: logger, metrics: factory)
        bridgeInterval = options.bridgeInterval
        shutdownTimeout = options.shutdownTimeout
    }

    /// Validates what loading alone cannot: that every plugin exists and accepts its configuration.
    public static func check(_ configuration: MynahConfiguration, registry: PluginRegistry = .builtIn)
        throws(ConfigurationError) {
        try BotRuntime.validate(configuration, registry: registry)
        try JMessageInbound.validate(configuration)
    }

    /// The port the HTTP server listens on, once it does; throws ``ListenError`` when it cannot listen.
    public func boundPort() async throws -> Int {
        try await port.wait()
    }

    /// The services in start order; the bots' service may finish early (a config without bots) without
    /// stopping the daemon.
    func services() -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var httpConfiguration = HTTPServer.Configuration(
            host: configuration.listen.host, port: configuration.listen.port, gateway: gateway,
            mediaDirectory: configuration.storage.mediaDirectory
                ?? (configuration.dataDirectory as NSString).appendingPathComponent("media"),
            metrics: configuration.metrics.enabled ? MetricsEndpoint(registry: metrics, token: configuration.metrics.token) : nil)
        httpConfiguration.extraRoutes = routing.inbound?.httpRoutes ?? []
        // On PostgreSQL media is the cluster's (in the database) unless a shared directory is configured.
        if configuration.storage.mediaDirectory == nil, let postgres {
            httpConfiguration.mediaStorage = PostgresMediaStore(database: postgres)
        }
        httpConfiguration.console = consoleOptions()
        let http = HTTPServer.application(
            hub: hub,
            configuration: httpConfiguration,
            bridge: bridge,
            logger: logger,
            onRunning: { [weak self] port in
                self?.logger.info("listening", metadata: ["address": "\(self?.configuration.listen.host ?? ""):\(port)"])
                self?.port.set(port)
            })
        var ownGateway: (@Sendable () async throws -> String)?
        if botsOverGateway {
            let host = Self.loopbackHost(configuration.listen.host), port = self.port
            ownGateway = { "ws://\(host):\(try await port.wait())\(Gateway.path)" }
        }
        let runtime = botRuntime, configuration = self.configuration
        let botService = BotService(entries: bots, hub: hub, ownGateway: ownGateway, logger: logger,
                                    jmessage: routing.inbound, leases: leases, rebuild: { spec in
                                        var single = configuration
                                        single.bots = [spec]
                                        return try? runtime.makeBots(single).first?.bot
                                    })
        botRuntime.service.withLock { $0 = botService }
        let janitor = InboxJanitor.service(hub: hub, interval: .seconds(3600), logger: logger)
        let deadlines = BridgeService.service(bridge: bridge, interval: bridgeInterval, logger: logger)
        let listening = ListeningService(server: http, port: port, host: configuration.listen.host,
                                         configuredPort: configuration.listen.port)
        var callbacks: [ServiceGroupConfiguration.ServiceConfiguration] = routing.dispatcher.map { [.init(service: $0)] } ?? []
        callbacks += receiptServices()
        return [.init(service: listening), .init(service: janitor, serviceName: "InboxJanitor"),
                .init(service: deadlines, serviceName: "BridgeService")] + callbacks + [
                .init(service: botService, successTerminationBehavior: .ignore),
                .init(service: ReloadService(daemon: self), successTerminationBehavior: .ignore)]
    }

    /// Whether `host` is reachable only from this machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    static func loopbackHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "[::1]"
        default: host.contains(":") ? "[\(host)]" : host
        }
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully: bots first, then the server (see
    /// ``run(configuration:options:logger:)``, which also covers the start).
    public func run() async throws {
        let signals = ShutdownSignals(timeout: shutdownTimeout, logger: logger)
        defer { signals.finish() }
        try await run(signals: signals)
    }

    /// Runs the daemon around `body`, which gets the bound port; shuts down gracefully when `body` returns.
    @discardableResult
    public func withRunning<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: services(), logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            do {
                let result = try await body(try await boundPort())
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                await postgres?.close()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                await postgres?.close()
                throw error
            }
        }
    }
}
