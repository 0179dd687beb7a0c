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
    /// Claims the entries whose key starts with `prefix` and sorts (by code point) before `bound` that no other
    /// node holds a live claim on: each becomes this storage's (its node's) until `until`, so that of several
    /// nodes racing for a due entry one gets it (PostgreSQL: `FOR UPDATE SKIP LOCKED`). A claim past `until`, or
    /// one this storage holds itself, may be taken again: a node that died mid-way leaves its entries to the next.
    func claim(bot: String, plugin: String, prefix: String, before bound: String, now: Int64, until: Int64)
        async throws -> [(key: String, value: JSONValue)]
    /// The last tick of `schedule` a node claimed, if any: its due time and whether it was handled.
    func lastTick(bot: String, plugin: String, schedule: String) async throws -> TickClaim?
    /// Claims the tick of `schedule` due at `due` until `until`: `true` for one node only. It succeeds when the last
    /// claimed tick is earlier, or lies more than ``TickClaim/staleAfter`` after `now` (a clock that stepped back),
    /// or is this one, unhandled, and its claim lapsed, is this storage's or is taken over (`takeOver`: by the
    /// node that took the bot's lease from the one that claimed it).
    func claimTick(bot: String, plugin: String, schedule: String, due: Int64, now: Int64, until: Int64,
                   takeOver: Bool) async throws -> Bool
    /// Records the tick of `schedule` due at `due` as handled (its messages stored), so it is never fired again.
    func finishTick(bot: String, plugin: String, schedule: String, due: Int64) async throws
}

/// The last claimed tick of one schedule of one plugin: what a node that takes a bot over catches up from.
public struct TickClaim: Sendable, Hashable {
    /// When the tick was due, in milliseconds since 1970.
    public var due: Int64
    /// Whether its plugin handled it and the messages it sent are stored.
    public var done: Bool

    /// A stored tick more than this far (ms) ahead of the claimer's clock is treated as stale (the clock stepped
    /// back) and may be overwritten by an earlier one.
    public static let staleAfter: Int64 = 10 * 60_000

    /// Creates a record.
    public init(due: Int64, done: Bool) {
        self.due = due
        self.done = done
    }
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

    /// Claims, for `lease`, the entries whose key starts with `prefix` and sorts before `bound`, ordered by key,
    /// that no other node holds (see ``PluginStorage/claim(bot:plugin:prefix:before:now:until:)``): how a
    /// due entry (a reminder) is taken by one node of several. Delete an entry once it is done with; one left
    /// behind by a node that died is claimed again after `lease`.
    public func claim(prefix: String, before bound: String, now: Int64, lease: Duration = .seconds(60))
        async throws -> [(key: String, value: JSONValue)] {
        let millis = lease.components.seconds * 1000 + lease.components.attoseconds / 1_000_000_000_000_000
        return try await storage.claim(bot: bot, plugin: plugin, prefix: prefix, before: bound, now: now,
                                       until: now + millis)
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
