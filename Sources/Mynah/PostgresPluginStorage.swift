import BotKit
import HubPostgres
import IMProtocol
import PostgresNIO

/// The plugins' durable key-value data in the node's PostgreSQL database (table `plugin_data`), the same contract
/// as `SQLitePluginStorage`. It lives here, beside BotKit's protocol, so that HubPostgres never depends on BotKit.
final class PostgresPluginStorage: PluginStorage {
    let database: PostgresStorage

    /// A store on `database` (migrated by `PostgresStorage.open`).
    init(database: PostgresStorage) {
        self.database = database
    }

    func value(bot: String, plugin: String, key: String) async throws -> JSONValue? {
        let text = try await database.client.withConnection { c in
            try await c.query("SELECT value FROM plugin_data WHERE bot = \(bot) AND plugin = \(plugin) AND key = \(key)",
                              logger: database.logger).collect().first.map { try $0.decode(String.self) }
        }
        return try text.map { try JSONValue.parse($0) }
    }

    func setValue(_ value: JSONValue, bot: String, plugin: String, key: String) async throws {
        let text = value == .null ? nil : value.serializedString()
        _ = try await database.client.withConnection { c in
            if let text {
                try await c.query("""
                    INSERT INTO plugin_data (bot, plugin, key, value) VALUES (\(bot), \(plugin), \(key), \(text))
                    ON CONFLICT (bot, plugin, key) DO UPDATE SET value = excluded.value
                    """, logger: database.logger).collect().count
            } else {
                try await c.query("DELETE FROM plugin_data WHERE bot = \(bot) AND plugin = \(plugin) AND key = \(key)",
                                  logger: database.logger).collect().count
            }
        }
    }

    func entries(bot: String, plugin: String, prefix: String) async throws -> [(key: String, value: JSONValue)] {
        // The prefix is compared as a prefix of code points (`left`), never as a LIKE pattern.
        let rows = try await database.client.withConnection { c in
            try await c.query("""
                SELECT key, value FROM plugin_data WHERE bot = \(bot) AND plugin = \(plugin)
                AND left(key, \(Int64(prefix.unicodeScalars.count))::integer) = \(prefix) ORDER BY key COLLATE "C"
                """, logger: database.logger).collect().map { try $0.decode((String, String).self) }
        }
        return try rows.map { row in (key: row.0, value: try JSONValue.parse(row.1)) }
    }
}
