import BotKit
import Foundation
import Hub
import Synchronization
import Logging
import ServiceLifecycle

extension Daemon {
    /// Applies the bots of `configuration` atomically: it is validated and every bot built first, and only then
    /// do removed and changed bots stop and new ones start; on any error the running bots stay as they were.
    ///
    /// Message routing (`callbacks:`) follows too, after the bots (docs/callbacks.md). Listening address, data
    /// directory, apps and the gateway's timers need a restart; changes to them are logged and ignored.
    public func apply(_ configuration: MynahConfiguration) async throws(ConfigurationError) {
        try BotRuntime.validate(configuration, registry: botRuntime.registry)
        let current = self.configuration
        if configuration.apps != current.apps || configuration.listen != current.listen
            || configuration.dataDirectory != current.dataDirectory || configuration.gateway != current.gateway {
            logger.warning(
                "reload applies bots and callbacks only; listen, data_dir, apps and gateway changes need a restart")
        }
        try routing.validate(configuration, running: current)
        for spec in configuration.bots
        where spec.options.hubURL == nil && spec.options.jmessage == nil && hub.app(spec.appKey) == nil {
            throw ConfigurationError(location: spec.location, path: "bots", message:
                "bot '\(spec.name)': appkey '\(spec.appKey)' is not an app of the running daemon (apps need a restart)")
        }
        try await botRuntime.ensureRobots(configuration, hub: hub)
        let entries = try botRuntime.makeBots(configuration)
        guard let service = botRuntime.service.withLock({ $0 }) else {
            throw ConfigurationError(location: nil, path: "", message: "the daemon is not running")
        }
        service.apply(entries)
        try await routing.apply(configuration)
    }

    /// Re-reads the configuration file and applies it (SIGHUP and `mynah reload`); a file that does not validate
    /// leaves the running bots in place. Logs the outcome either way.
    @discardableResult
    public func reload() async -> Result<Void, ConfigurationError> {
        guard let path = botRuntime.configurationPath else {
            return .failure(ConfigurationError(location: nil, path: "", message: "no configuration file to reload"))
        }
        do {
            let configuration = try ConfigurationLoader.load(path: path)
            try await apply(configuration)
            logger.notice("configuration reloaded", metadata: ["file": "\(path)", "bots": "\(configuration.bots.count)"])
            return .success(())
        } catch {
            logger.error("reload failed; the running configuration stays", metadata: ["error": "\(error)"])
            return .failure(error)
        }
    }

    /// The running bot named `name`, if any (for tests and tools).
    public func runningBot(named name: String) -> BotKit.Bot? {
        botRuntime.service.withLock { $0 }?.bot(named: name)
    }
}

/// Reloads the configuration on SIGHUP, one reload at a time, until the daemon shuts down.
struct ReloadService: Service {
    weak let daemon: Daemon?

    func run() async throws {
        guard daemon?.botRuntime.configurationPath != nil else { return }
        for await _ in ProcessSignals.shared.arrivals(of: SIGHUP).cancelOnGracefulShutdown() {
            await daemon?.reload()
        }
    }
}
