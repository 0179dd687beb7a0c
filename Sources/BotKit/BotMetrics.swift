import CoreMetrics
import Metrics

/// One bot's counters and timers, labelled `bot` and `plugin`: what an operator graphs to see a plugin failing,
/// slowing down, dropping events or being throttled. Handles are made once per bot, not per event.
struct BotMetrics: Sendable {
    /// The handles of one plugin of the bot.
    struct PluginHandles: Sendable {
        /// Events handed to the plugin, by event kind.
        let events: [String: Counter]
        /// Time the plugin took per event, failures included.
        let duration: Timer
        /// Events the plugin failed on: threw, crashed, timed out, quarantined.
        let failures: Counter
        /// Actions carried out for the plugin.
        let actions: Counter
        /// Actions that failed (refused by the hub, rate limited, no such bot).
        let actionFailures: Counter
        /// Events dropped because the plugin's queue was full.
        let dropped: Counter
    }

    static let eventKinds = ["message", "members_joined", "members_left", "started", "tick"]

    let plugins: [PluginHandles]
    /// Messages the bot sent.
    let sent: Counter
    /// Messages the rate limit dropped.
    let rateLimited: Counter
    /// 1 while the bot has a connection to its hub, 0 otherwise.
    let connected: Meter

    init(bot: String, plugins ids: [String], factory: any MetricsFactory) {
        plugins = ids.map { id in
            let labels = [("bot", bot), ("plugin", id)]
            return PluginHandles(
                events: Dictionary(uniqueKeysWithValues: Self.eventKinds.map { kind in
                    (kind, Counter(label: "mynah_bot_events_total", dimensions: labels + [("event", kind)],
                                   factory: factory))
                }),
                duration: Timer(label: "mynah_bot_plugin_duration_seconds", dimensions: labels, factory: factory),
                failures: Counter(label: "mynah_bot_plugin_failures_total", dimensions: labels, factory: factory),
                actions: Counter(label: "mynah_bot_actions_total", dimensions: labels, factory: factory),
                actionFailures: Counter(label: "mynah_bot_action_failures_total", dimensions: labels, factory: factory),
                dropped: Counter(label: "mynah_bot_events_dropped_total", dimensions: labels, factory: factory))
        }
        sent = Counter(label: "mynah_bot_messages_sent_total", dimensions: [("bot", bot)], factory: factory)
        rateLimited = Counter(label: "mynah_bot_rate_limited_total", dimensions: [("bot", bot)], factory: factory)
        connected = Meter(label: "mynah_bot_connected", dimensions: [("bot", bot)], factory: factory)
    }

    /// Records one event handled by plugin `index`: its kind, its duration and whether it failed.
    func handled(_ kind: String, plugin index: Int, duration: Duration, failed: Bool) {
        let p = plugins[index]
        p.events[kind]?.increment()
        p.duration.record(duration: duration)
        if failed { p.failures.increment() }
    }

    /// Records one action of plugin `index`.
    func action(plugin index: Int, failed: Bool) {
        if failed { plugins[index].actionFailures.increment() } else { plugins[index].actions.increment() }
    }

    /// Records an event dropped by plugin `index`'s full queue.
    func dropped(plugin index: Int) { plugins[index].dropped.increment() }

    /// Records a message sent, or one dropped by the rate limit.
    func send(limited: Bool) { if limited { rateLimited.increment() } else { sent.increment() } }

    /// Records the bot's connection going up or down.
    func connection(up: Bool) { connected.set(up ? 1.0 : 0.0) }

    /// Removes every series of the bot from the registry (the bot was removed from the configuration).
    func forget() {
        for p in plugins {
            p.events.values.forEach { $0.destroy() }
            [p.failures, p.actions, p.actionFailures, p.dropped].forEach { $0.destroy() }
            p.duration.destroy()
        }
        sent.destroy()
        rateLimited.destroy()
        connected.destroy()
    }
}
