import BotKit
import Bridge
import Foundation
import Hub
import Logging
import Prometheus
import Server
import ServiceLifecycle
import Synchronization
import UnixSignals

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
        /// A benchmark knob: embedded bots log in over the daemon's own gateway (a loopback WebSocket, once HTTP
        /// listens) instead of in process, to measure one against the other (BENCHMARKS.md).
        public var botsOverGateway = false

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
    let bots: [BotService.Entry]
    let botRuntime: BotRuntime
    let gateway: Gateway.Configuration
    let botsOverGateway: Bool
    let logger: Logger
    let port = PortSignal()

    /// Opens the store under `data_dir`, starts the hub, registers the bots' robot accounts and builds their plugins.
    public init(configuration: MynahConfiguration, options: Options = Options(),
                logger: Logger = Logger(label: "mynah")) async throws {
        self.configuration = configuration
        self.logger = logger
        self.gateway = options.gateway
        self.botsOverGateway = options.botsOverGateway
        try Self.check(configuration, registry: options.plugins)
        let databasePath = (configuration.dataDirectory as NSString).appendingPathComponent("mynah.sqlite")
        let store: SQLiteHubStore
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            store = try SQLiteHubStore(path: databasePath)
        } catch {
            throw ConfigurationError(location: nil, path: "data_dir",
                                     message: "cannot open the database '\(databasePath)': \(error.localizedDescription)")
        }
        let factory = PrometheusMetricsFactory(registry: metrics)
        hub = try await Hub(
            configuration: .init(
                apps: configuration.apps,
                passwordCost: options.passwordCost, clock: options.clock, metrics: HubMetrics(factory: factory)),
            store: store, logger: logger)
        let port = self.port
        let host = Self.loopbackHost(configuration.listen.host)
        let runtime = try BotRuntime(dataDirectory: configuration.dataDirectory, registry: options.plugins,
                                     clock: options.botClock, configurationPath: options.configurationPath,
                                     logger: logger, metrics: factory,
                                     localHub: { "http://\(host):\(await port.wait())" })
        botRuntime = runtime
        try await runtime.ensureRobots(configuration, hub: hub)
        self.bots = try runtime.makeBots(configuration)
        bridge = try await Self.openBridge(configuration, hub: hub, logger: logger, metrics: factory)
        bridgeInterval = options.bridgeInterval
    }

    /// Validates what loading alone cannot: that every plugin exists and accepts its configuration.
    public static func check(_ configuration: MynahConfiguration, registry: PluginRegistry = .builtIn)
        throws(ConfigurationError) {
        try BotRuntime.validate(configuration, registry: registry)
    }

    /// The port the HTTP server listens on, once it does.
    public func boundPort() async -> Int {
        await port.wait()
    }

    /// The services in start order; the bots' service may finish early (a config without bots) without
    /// stopping the daemon.
    func services() -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let http = HTTPServer.application(
            hub: hub,
            configuration: .init(host: configuration.listen.host, port: configuration.listen.port, gateway: gateway,
                                 mediaDirectory: (configuration.dataDirectory as NSString).appendingPathComponent("media"),
                                 metrics: configuration.metrics.enabled
                                     ? MetricsEndpoint(registry: metrics, token: configuration.metrics.token) : nil),
            bridge: bridge,
            logger: logger,
            onRunning: { [weak self] port in
                self?.logger.info("listening", metadata: ["address": "\(self?.configuration.listen.host ?? ""):\(port)"])
                self?.port.set(port)
            })
        var ownGateway: (@Sendable () async -> String)?
        if botsOverGateway {
            let host = Self.loopbackHost(configuration.listen.host), port = self.port
            ownGateway = { "ws://\(host):\(await port.wait())\(Gateway.path)" }
        }
        let botService = BotService(entries: bots, hub: hub, ownGateway: ownGateway, logger: logger)
        botRuntime.service.withLock { $0 = botService }
        let janitor = InboxJanitor(hub: hub, interval: .seconds(3600), logger: logger)
        let deadlines = BridgeService(bridge: bridge, interval: bridgeInterval, logger: logger)
        return [.init(service: http), .init(service: janitor), .init(service: deadlines),
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

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully: bots first, then the server.
    public func run() async throws {
        let host = configuration.listen.host
        if configuration.metrics.enabled, configuration.metrics.token == nil, !Self.isLoopback(host) {
            logger.warning("GET /metrics is open to anyone who reaches this address; set metrics.token or metrics.enabled: false",
                           metadata: ["address": "\(host)"])
        }
        botRuntime.writePIDFile()
        defer { botRuntime.removePIDFile() }
        let group = ServiceGroup(configuration: .init(
            services: services(),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
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
                let result = try await body(await boundPort())
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}
