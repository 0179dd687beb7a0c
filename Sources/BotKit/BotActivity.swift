import Synchronization

/// Where a plugin is in its life, as the console's Bots screen shows it.
public enum PluginState: Sendable, Hashable {
    /// Handling events (a Swift plugin or a webhook always is; an external program past its handshake).
    case running
    /// An external program not started yet.
    case starting
    /// An external program that failed and waits out its backoff before it is started again.
    case restarting(failures: Int)
    /// An external program that failed too often; not restarted until a reload.
    case quarantined(reason: String)
}

/// What one bot has been doing lately: since when it is connected, its events of the last minute, each plugin's
/// state and its most recent failures. Read by the console; kept in memory only.
public struct BotStatus: Sendable {
    /// One plugin's failure on an event or an action.
    public struct Failure: Sendable, Hashable {
        /// When, in milliseconds since 1970 (the bot's clock).
        public var at: Int64
        /// The plugin's id.
        public var plugin: String
        /// What went wrong.
        public var message: String
    }

    /// When the current connection to the hub came up (milliseconds since 1970), `nil` while not connected.
    public var connectedSince: Int64?
    /// Events received from the hub in the last 60 seconds.
    public var eventsLastMinute: Int
    /// Each plugin's id and state, in the bot's order.
    public var plugins: [(id: String, state: PluginState)]
    /// The last failures, newest first (at most ``BotActivity/keptFailures``).
    public var failures: [Failure]
}

/// The bot's counters behind ``BotStatus``: connection, a minute of event times, the last failures.
final class BotActivity: Sendable {
    static let keptFailures = 20
    private struct State {
        var connectedSince: Int64?
        var events: [Int64] = []
        var failures: [BotStatus.Failure] = []
    }
    private let state = Mutex(State())

    func connection(up: Bool, now: Int64) {
        state.withLock { s in
            if up { if s.connectedSince == nil { s.connectedSince = now } } else { s.connectedSince = nil }
        }
    }

    func event(now: Int64) {
        state.withLock { s in
            s.events.removeAll { $0 <= now - 60_000 }
            s.events.append(now)
        }
    }

    func failure(plugin: String, message: String, now: Int64) {
        state.withLock { s in
            s.failures.insert(.init(at: now, plugin: plugin, message: message), at: 0)
            if s.failures.count > Self.keptFailures { s.failures.removeLast() }
        }
    }

    func snapshot(now: Int64) -> (connectedSince: Int64?, events: Int, failures: [BotStatus.Failure]) {
        state.withLock { s in (s.connectedSince, s.events.count { $0 > now - 60_000 }, s.failures) }
    }
}

extension BotPlugin {
    /// In-process plugins (Swift, webhooks) have nothing to supervise: running while the bot runs.
    public func state() async -> PluginState { .running }
}

extension ExternalPlugin {
    /// The program's state: running, starting, restarting after failures, or quarantined.
    public func state() async -> PluginState {
        switch currentStatus {
        case .running: .running
        case .quarantined(let reason): .quarantined(reason: reason)
        case .stopped: failureCount == 0 ? .starting : .restarting(failures: failureCount)
        }
    }
}

extension Bot {
    /// The bot's state now: connection, events of the last minute, each plugin's state, recent failures.
    public func status() async -> BotStatus {
        let snapshot = activity.snapshot(now: clock.now())
        var plugins: [(id: String, state: PluginState)] = []
        for slot in slots {
            plugins.append((slot.plugin.id, await slot.plugin.state()))
        }
        return BotStatus(connectedSince: snapshot.connectedSince, eventsLastMinute: snapshot.events, plugins: plugins,
                         failures: snapshot.failures)
    }
}
