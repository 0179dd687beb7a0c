import BotKit

extension Daemon {
    /// The bots' durable data (`<data_dir>/bots.sqlite`, or PostgreSQL): what a test reads a plugin's stored
    /// values from (`MynahTesting`).
    public var pluginStorage: any PluginStorage { botRuntime.storage }

    /// The daemon's running bots by name; ``BotKit/BotDirectory/waitForBot(named:)`` finds one once it starts.
    public var botDirectory: BotDirectory { botRuntime.directory }
}
