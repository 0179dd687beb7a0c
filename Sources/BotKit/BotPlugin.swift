import IMProtocol

/// A plugin of any kind as a bot runs it: a Swift plugin, an external program or a webhook.
///
/// The bot starts it once, reads its commands and schedules, feeds it events one at a time and stops it.
public protocol BotPlugin: Sendable {
    /// The plugin's id in its bot: what its durable data and log lines are keyed by.
    var id: String { get }
    /// Prepares the plugin (an external program is spawned and shakes hands); errors are logged, never fatal.
    func start(context: PluginContext) async throws
    /// The commands it declares (known once started).
    func commands() async -> [CommandSpec]
    /// The schedules it declares (known once started).
    func schedules() async -> [Schedule]
    /// Waits until the plugin can take an event (an external program being restarted); the event's time limit
    /// starts after it. Throws when the plugin cannot take one (quarantined, stopped).
    func ready() async throws
    /// Handles one event.
    func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction]
    /// Releases what `start` acquired.
    func stop() async
    /// Where the plugin is in its life (the console's Bots screen); in-process plugins are always running.
    func state() async -> PluginState
}

extension BotPlugin {
    /// Ready at once: only a plugin that restarts has something to wait for.
    public func ready() async throws {}
}

/// A Swift ``Plugin`` as a ``BotPlugin``.
public struct SwiftBotPlugin: BotPlugin {
    /// The plugin.
    public let plugin: any Plugin
    /// Its id in the bot.
    public let id: String

    /// Wraps `plugin`; the id defaults to its `pluginName`.
    public init(_ plugin: any Plugin, id: String? = nil) {
        self.plugin = plugin
        self.id = id ?? type(of: plugin).pluginName
    }

    /// Nothing to start.
    public func start(context: PluginContext) async throws {}
    /// The plugin's declared commands.
    public func commands() async -> [CommandSpec] { plugin.commands }
    /// The plugin's declared schedules.
    public func schedules() async -> [Schedule] { plugin.schedules }
    /// Calls the plugin.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        try await plugin.handle(event, context: context)
    }
    /// Nothing to stop.
    public func stop() async {}
}
