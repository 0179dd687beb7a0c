import BotKit
import Foundation
import GRDB
import Hub
import IMProtocol

/// The plugins' durable key-value data in its own SQLite file (`<data_dir>/bots.sqlite`, WAL, synchronous FULL),
/// apart from the hub's database so that BotKit never touches the hub's storage.
final class SQLitePluginStorage: PluginStorage {
    let pool: DatabasePool

    /// Opens (and migrates) the file at `path`.
    init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE plugin_data (
                    bot TEXT NOT NULL, plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (bot, plugin, key)
                ) WITHOUT ROWID
                """)
        }
        pool = try DurableDatabase.open(path: path, migrator: migrator)
    }

    func value(bot: String, plugin: String, key: String) async throws -> JSONValue? {
        let text = try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM plugin_data WHERE bot = ? AND plugin = ? AND key = ?",
                                arguments: [bot, plugin, key])
        }
        return try text.map { try JSONValue.parse($0) }
    }

    func setValue(_ value: JSONValue, bot: String, plugin: String, key: String) async throws {
        let text = value == .null ? nil : value.serializedString()
        try await pool.write { db in
            if let text {
                try db.execute(sql: """
                    INSERT INTO plugin_data (bot, plugin, key, value) VALUES (?, ?, ?, ?)
                    ON CONFLICT (bot, plugin, key) DO UPDATE SET value = excluded.value
                    """, arguments: [bot, plugin, key, text])
            } else {
                try db.execute(sql: "DELETE FROM plugin_data WHERE bot = ? AND plugin = ? AND key = ?",
                               arguments: [bot, plugin, key])
            }
        }
    }

    func entries(bot: String, plugin: String, prefix: String) async throws -> [(key: String, value: JSONValue)] {
        let rows = try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT key, value FROM plugin_data WHERE bot = ? AND plugin = ? AND substr(key, 1, ?) = ? ORDER BY key
                """, arguments: [bot, plugin, prefix.unicodeScalars.count, prefix])
            .map { row in (key: row["key"] as String, value: row["value"] as String) }
        }
        return try rows.map { row in (key: row.key, value: try JSONValue.parse(row.value)) }
    }
}
