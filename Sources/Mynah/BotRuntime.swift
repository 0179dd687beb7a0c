import BotKit
import CoreMetrics
import Foundation
import Hub
import Logging
import Synchronization

/// What the daemon's bots share: their durable data, their clock, the directory through which one bot sends
/// via another, the plugin registry, and the running bot service that reloads swap bots in.
final class BotRuntime: Sendable {
    let storage: any PluginStorage
    let directory = BotDirectory()
    let registry: PluginRegistry
    let clock: any BotClock
    let configurationPath: String?
    let dataDirectory: String
    let logger: Logger
    let metrics: any MetricsFactory
    /// The embedded hub's HTTP base URL, once it listens (for the bots' media uploads).
    let localHub: @Sendable () async -> String
    /// The bot service of the running daemon, once its services are built.
    let service = Mutex<BotService?>(nil)
    /// Serializes reloads.
    let reloading = Mutex(false)

    init(dataDirectory: String, storage configured: (any PluginStorage)? = nil, registry: PluginRegistry, clock: any BotClock, configurationPath: String?,
         logger: Logger, metrics: any MetricsFactory,
         localHub: @escaping @Sendable () async -> String) throws(ConfigurationError) {
        self.metrics = metrics
        self.localHub = localHub
        let path = (dataDirectory as NSString).appendingPathComponent("bots.sqlite")
        do {
            storage = try configured ?? SQLitePluginStorage(path: path)
        } catch {
            throw ConfigurationError(location: nil, path: "data_dir",
                                     message: "cannot open the bots' database '\(path)': \(error.localizedDescription)")
        }
        self.dataDirectory = dataDirectory
        self.registry = registry
        self.clock = clock
        self.configurationPath = configurationPath
        self.logger = logger
    }

    /// Checks everything about the bots that loading alone cannot: every Swift plugin exists and accepts its
    /// configuration, and relays name existing bots.
    static func validate(_ configuration: MynahConfiguration, registry: PluginRegistry) throws(ConfigurationError) {
        let names = Set(configuration.bots.map(\.name))
        // Every problem is reported, not only the first.
        var errors: [ConfigurationError] = []
        for (i, spec) in configuration.bots.enumerated() {
            for (j, plugin) in spec.plugins.enumerated() {
                do {
                    _ = try registry.slot(plugin, path: "bots[\(i)].plugins[\(j)]", logger: Logger(label: "mynah.check"))
                } catch {
                    errors.append(error)
                }
            }
            for name in spec.options.acceptRelayFrom where !names.contains(name) {
                errors.append(ConfigurationError(location: spec.location, path: "bots[\(i)].accept_relay_from",
                                                 message: "no bot named '\(name)'"))
            }
        }
        if let error = ConfigurationError.combining(errors) { throw error }
    }

    /// Creates the robot accounts of the bots on the embedded hub (remote bots' accounts live on their hub).
    func ensureRobots(_ configuration: MynahConfiguration, hub: Hub) async throws(ConfigurationError) {
        for (index, spec) in configuration.bots.enumerated() where spec.options.hubURL == nil && spec.options.jmessage == nil {
            do {
                _ = try await hub.ensureRobot(
                    appKey: spec.appKey,
                    NewUser(username: spec.username, password: spec.password,
                            profile: Profile(nickname: spec.nickname, avatar: spec.options.avatar)))
            } catch {
                throw ConfigurationError(location: spec.location, path: "bots[\(index)].username", message: error.message)
            }
        }
    }

    /// Builds the bots of a validated configuration.
    func makeBots(_ configuration: MynahConfiguration) throws(ConfigurationError) -> [BotService.Entry] {
        var entries: [BotService.Entry] = []
        for (i, spec) in configuration.bots.enumerated() {
            var logger = logger
            logger[metadataKey: "bot"] = "\(spec.name)"
            var slots: [BotKit.Bot.Slot] = []
            for (j, plugin) in spec.plugins.enumerated() {
                slots.append(try registry.slot(plugin, path: "bots[\(i)].plugins[\(j)]", logger: logger))
            }
            let options = spec.options
            let settings = BotKit.Bot.Settings(
                identity: BotIdentity(name: spec.name, appKey: spec.appKey, username: spec.username,
                                      commandPrefix: options.commandPrefix),
                listen: options.listen, roles: RoleTable(options.roles, appKey: spec.appKey),
                rateLimit: options.rateLimit, ratePeriod: options.ratePeriod,
                acceptRelayFrom: Set(options.acceptRelayFrom))
            let bot = BotKit.Bot(settings: settings, plugins: slots, storage: storage, clock: clock,
                                 directory: directory, logger: self.logger, metrics: metrics,
                                 uploader: uploader(for: spec, apps: configuration.apps))
            entries.append(.init(spec: spec, bot: bot))
        }
        return entries
    }

    /// The bot's uploader: the embedded hub with the apps' secrets from `apps:`, or a remote hub's REST API with
    /// `hub.master_secret` (its own app only); `nil` when a remote bot has no secret (attachments then fail saying so).
    func uploader(for spec: MynahConfiguration.Bot, apps: [MynahConfiguration.App]) -> (any MediaUploader)? {
        if let jmessage = spec.options.jmessage {
            return RESTMediaUploader(baseURL: { jmessage.api }, secrets: [spec.appKey: jmessage.masterSecret])
        }
        if let remote = spec.options.hubURL {
            guard let secret = spec.options.hubMasterSecret, let base = Self.httpBase(ofGateway: remote) else { return nil }
            return RESTMediaUploader(baseURL: { base }, secrets: [spec.appKey: secret])
        }
        // On the embedded hub every configured app's secret is known: media goes to the recipients' app.
        return RESTMediaUploader(baseURL: localHub,
                                 secrets: Dictionary(apps.map { ($0.appKey, $0.masterSecret) }, uniquingKeysWith: { $1 }))
    }

    /// `ws://host:port/prefix/gateway` → `http://host:port/prefix` (`wss` → `https`): the REST API beside the
    /// gateway, behind the same proxy prefix, without credentials or query.
    static func httpBase(ofGateway url: String) -> String? {
        guard var parts = URLComponents(string: url), let scheme = parts.scheme else { return nil }
        parts.scheme = scheme == "wss" ? "https" : "http"
        if parts.path.hasSuffix("/gateway") { parts.path.removeLast("/gateway".count) }
        while parts.path.hasSuffix("/") { parts.path.removeLast() }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        parts.fragment = nil
        return parts.string
    }

    /// `<data_dir>/mynah.pid`, which `mynah reload` signals.
    var pidFilePath: String { (dataDirectory as NSString).appendingPathComponent("mynah.pid") }

    func writePIDFile() {
        do {
            try "\(getpid())\n".write(toFile: pidFilePath, atomically: true, encoding: .utf8)
        } catch {
            logger.warning("cannot write the pid file", metadata: ["path": "\(pidFilePath)", "error": "\(error)"])
        }
    }

    func removePIDFile() {
        try? FileManager.default.removeItem(atPath: pidFilePath)
    }
}
