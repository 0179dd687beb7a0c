import IMProtocol
import Logging

/// Durable key-value data, kept apart per bot and plugin; the daemon implements it on SQLite.
///
/// BotKit never knows the hub's storage; `Mynah` gives the bots an implementation under the data directory.
public protocol PluginStorage: Sendable {
    /// The value under `key`, or `nil`.
    func value(bot: String, plugin: String, key: String) async throws -> JSONValue?
    /// Stores `value` under `key`; `.null` deletes the key.
    func setValue(_ value: JSONValue, bot: String, plugin: String, key: String) async throws
    /// Every key and value of the plugin whose key starts with `prefix`, ordered by key.
    func entries(bot: String, plugin: String, prefix: String) async throws -> [(key: String, value: JSONValue)]
}

/// One plugin's view of its durable data.
public struct PluginStore: Sendable {
    let storage: any PluginStorage
    /// The bot's name.
    public let bot: String
    /// The plugin's id in the bot.
    public let plugin: String

    /// A view of `storage` for one bot's plugin.
    public init(storage: any PluginStorage, bot: String, plugin: String) {
        self.storage = storage
        self.bot = bot
        self.plugin = plugin
    }

    /// The value under `key`, or `nil`.
    public func get(_ key: String) async throws -> JSONValue? {
        try await storage.value(bot: bot, plugin: plugin, key: key)
    }

    /// Stores `value` under `key`; `.null` deletes it.
    public func set(_ key: String, _ value: JSONValue) async throws {
        try await storage.setValue(value, bot: bot, plugin: plugin, key: key)
    }

    /// Every entry whose key starts with `prefix`, ordered by key.
    public func entries(prefix: String = "") async throws -> [(key: String, value: JSONValue)] {
        try await storage.entries(bot: bot, plugin: plugin, prefix: prefix)
    }
}

/// Who the bot is, as plugins see it.
public struct BotIdentity: Sendable, Hashable {
    /// The bot's name in `bots.yaml`.
    public var name: String
    /// The robot account's AppKey.
    public var appKey: String
    /// The robot account's username.
    public var username: String
    /// The prefix that starts a command, `/` by default.
    public var commandPrefix: String

    /// Creates an identity.
    public init(name: String, appKey: String, username: String, commandPrefix: String = "/") {
        self.name = name
        self.appKey = appKey
        self.username = username
        self.commandPrefix = commandPrefix
    }
}

/// What a plugin gets with every event besides the event: the bot, its commands, durable data, a clock, a logger.
public struct PluginContext: Sendable {
    /// The bot the plugin runs in.
    public var bot: BotIdentity
    /// This plugin's id in the bot.
    public var plugin: String
    /// Every command the bot's plugins declare, in plugin order.
    public var commands: [DeclaredCommand]
    /// Who holds which role.
    public var roles: RoleTable
    /// The plugin's durable key-value data.
    public var store: PluginStore
    /// The bot's clock.
    public var clock: any BotClock
    /// A logger with the bot and plugin in its metadata.
    public var logger: Logger

    /// Creates a context.
    public init(bot: BotIdentity, plugin: String, commands: [DeclaredCommand], roles: RoleTable, store: PluginStore,
                clock: any BotClock, logger: Logger) {
        self.bot = bot
        self.plugin = plugin
        self.commands = commands
        self.roles = roles
        self.store = store
        self.clock = clock
        self.logger = logger
    }
}
