import BotKit
import Hub
import Server
import Synchronization

extension Daemon {
    /// What `/console` needs from the daemon: the operators of `console:`, the bots with their state, and the reload
    /// of the configuration file; `nil` when `console: enabled: false`.
    func consoleOptions() -> ConsoleOptions? {
        let section = configuration.console
        guard section.enabled else { return nil }
        return ConsoleOptions(
            operators: section.operators, sessionTTL: section.sessionTTL,
            bots: { [weak self] in await self?.consoleBots() ?? [] },
            reload: { [weak self] in
                guard let self else { return .failure(.init(description: "the daemon is shutting down")) }
                switch await self.reload() {
                case .success: return .success(())
                case .failure(let error):
                    return .failure(.init(description: error.description, file: error.location?.file,
                                          line: error.location?.line, column: error.location?.column))
                }
            })
    }

    /// The running bots; a bot of the embedded hub is connected while its robot account has a gateway session.
    func consoleBots() async -> [ConsoleOptions.BotState] {
        let specs = botRuntime.service.withLock { $0 }?.specs() ?? configuration.bots
        var states: [ConsoleOptions.BotState] = []
        for spec in specs {
            var connected = false
            if spec.options.hubURL == nil, let user = try? await hub.user(appKey: spec.appKey, username: spec.username) {
                connected = !hub.presence.sessions(userID: user.id).isEmpty
            }
            var state = ConsoleOptions.BotState(name: spec.name, appKey: spec.appKey, username: spec.username,
                                                plugins: spec.plugins.map(\.swift), connected: connected)
            if let bot = botRuntime.service.withLock({ $0 })?.bot(named: spec.name) {
                let status = await bot.status()
                if spec.options.hubURL != nil { state.connected = status.connectedSince != nil }
                state.connectedSince = status.connectedSince
                state.eventsPerMinute = status.eventsLastMinute
                state.plugins = status.plugins.map(\.id)
                state.pluginStates = status.plugins.map { plugin in
                    switch plugin.state {
                    case .running: .init(id: plugin.id, state: "running")
                    case .starting: .init(id: plugin.id, state: "starting")
                    case .restarting(let failures): .init(id: plugin.id, state: "restarting",
                                                          detail: "\(failures) failures in a row")
                    case .quarantined(let reason): .init(id: plugin.id, state: "quarantined", detail: reason)
                    }
                }
                state.failures = status.failures.map { .init(at: $0.at, plugin: $0.plugin, message: $0.message) }
            }
            states.append(state)
        }
        return states
    }
}
