import BotKit
import Foundation
import GRDB
import Hub
import IMProtocol

/// The plugins' durable key-value data in its own SQLite file (`<data_dir>/bots.sqlite`, WAL, synchronous FULL),
/// apart from the hub's database so that BotKit never touches the hub's storage. Claims (`claimed_by`,
/// `claimed_until`, `plugin_tick`) follow the PostgreSQL store's rules; one process writes the file, so a claim is
/// one write transaction.
final class SQLitePluginStorage: PluginStorage {
    let pool: DatabasePool
    /// The file.
    let path: String
    /// Who this storage's claims belong to: one id per process.
    let owner = UUID().uuidString

    /// Opens (and migrates) the file at `path`.
    init(path: String) throws {
        self.path = path
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE plugin_data (
                    bot TEXT NOT NULL, plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (bot, plugin, key)
                ) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("v2 claims") { db in
            try db.execute(sql: """
                ALTER TABLE plugin_data ADD COLUMN claimed_by TEXT;
                ALTER TABLE plugin_data ADD COLUMN claimed_until INTEGER;
                CREATE TABLE plugin_tick (
                    bot TEXT NOT NULL, plugin TEXT NOT NULL, schedule TEXT NOT NULL, due INTEGER NOT NULL,
                    done INTEGER NOT NULL, claimed_by TEXT NOT NULL, claimed_until INTEGER NOT NULL,
                    PRIMARY KEY (bot, plugin, schedule)
                ) WITHOUT ROWID;
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
                    ON CONFLICT (bot, plugin, key) DO UPDATE SET value = excluded.value, claimed_by = NULL,
                    claimed_until = NULL
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

    func claim(bot: String, plugin: String, prefix: String, before bound: String, now: Int64, until: Int64)
        async throws -> [(key: String, value: JSONValue)] {
        let owner = self.owner
        // IMMEDIATE: the read and the claim are one write transaction, also against another process on the file.
        let rows = try await pool.writeWithoutTransaction { db in
            var rows: [(key: String, value: String)] = []
            try db.inTransaction(.immediate) {
                rows = try Self.claimRows(db, bot: bot, plugin: plugin, prefix: prefix, bound: bound, now: now,
                                          until: until, owner: owner)
                return .commit
            }
            return rows
        }
        return try rows.map { row in (key: row.key, value: try JSONValue.parse(row.value)) }
    }

    static func claimRows(_ db: Database, bot: String, plugin: String, prefix: String, bound: String, now: Int64,
                          until: Int64, owner: String) throws -> [(key: String, value: String)] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT key, value FROM plugin_data WHERE bot = ? AND plugin = ? AND substr(key, 1, ?) = ? AND key < ?
            AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?) ORDER BY key
            """, arguments: [bot, plugin, prefix.unicodeScalars.count, prefix, bound, now, owner])
            .map { row in (key: row["key"] as String, value: row["value"] as String) }
        for row in rows {
            try db.execute(sql: """
                UPDATE plugin_data SET claimed_by = ?, claimed_until = ? WHERE bot = ? AND plugin = ? AND key = ?
                """, arguments: [owner, until, bot, plugin, row.key])
        }
        return rows
    }

    func lastTick(bot: String, plugin: String, schedule: String) async throws -> TickClaim? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT due, done FROM plugin_tick WHERE bot = ? AND plugin = ? AND schedule = ?",
                             arguments: [bot, plugin, schedule])
                .map { TickClaim(due: $0["due"], done: $0["done"]) }
        }
    }

    func claimTick(bot: String, plugin: String, schedule: String, due: Int64, now: Int64, until: Int64,
                   takeOver: Bool) async throws -> Bool {
        let owner = self.owner
        return try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO plugin_tick (bot, plugin, schedule, due, done, claimed_by, claimed_until)
                VALUES (?, ?, ?, ?, 0, ?, ?)
                ON CONFLICT (bot, plugin, schedule) DO UPDATE SET due = excluded.due, done = 0,
                claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
                WHERE plugin_tick.due < excluded.due OR plugin_tick.due > ? + ?
                OR (plugin_tick.due = excluded.due AND plugin_tick.done = 0
                    AND (plugin_tick.claimed_until < ? OR plugin_tick.claimed_by = excluded.claimed_by OR ?))
                """, arguments: [bot, plugin, schedule, due, owner, until, now, TickClaim.staleAfter, now, takeOver])
            return db.changesCount > 0
        }
    }

    func finishTick(bot: String, plugin: String, schedule: String, due: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE plugin_tick SET done = 1 WHERE bot = ? AND plugin = ? AND schedule = ? AND due = ?",
                           arguments: [bot, plugin, schedule, due])
        }
    }
}
