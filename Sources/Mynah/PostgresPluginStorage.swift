import BotKit
import Foundation
import HubPostgres
import IMProtocol
import PostgresNIO

/// The plugins' durable key-value data in the node's PostgreSQL database (table `plugin_data`), the same contract
/// as `SQLitePluginStorage`. It lives here, beside BotKit's protocol, so that HubPostgres never depends on BotKit.
/// Several nodes share the table: due entries are claimed with `FOR UPDATE SKIP LOCKED` and a claim owner and
/// expiry, cron ticks with an upsert on `plugin_tick` that only a later tick wins, so each fires on one node.
final class PostgresPluginStorage: PluginStorage {
    let database: PostgresStorage
    /// Who this node's claims belong to: one id per storage (per process).
    let owner: String

    /// A store on `database` (migrated by `PostgresStorage.open`).
    init(database: PostgresStorage, owner: String = UUID().uuidString) {
        self.database = database
        self.owner = owner
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
                    ON CONFLICT (bot, plugin, key) DO UPDATE SET value = excluded.value, claimed_by = NULL,
                    claimed_until = NULL
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

    func claim(bot: String, plugin: String, prefix: String, before bound: String, now: Int64, until: Int64)
        async throws -> [(key: String, value: JSONValue)] {
        // One statement, so one transaction: rows another node is claiming right now are skipped, not waited for,
        // and rows it claimed (committed) are skipped until their claim lapses.
        let rows = try await database.client.withConnection { c in
            try await c.query("""
                UPDATE plugin_data AS d SET claimed_by = \(owner), claimed_until = \(until)
                FROM (SELECT key FROM plugin_data WHERE bot = \(bot) AND plugin = \(plugin)
                      AND left(key, \(Int64(prefix.unicodeScalars.count))::integer) = \(prefix)
                      AND key COLLATE "C" < \(bound) COLLATE "C"
                      AND (claimed_until IS NULL OR claimed_until < \(now) OR claimed_by = \(owner))
                      ORDER BY key COLLATE "C" FOR UPDATE SKIP LOCKED) AS due
                WHERE d.bot = \(bot) AND d.plugin = \(plugin) AND d.key = due.key
                RETURNING d.key, d.value
                """, logger: database.logger).collect().map { try $0.decode((String, String).self) }
        }
        return try rows.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) }
            .map { row in (key: row.0, value: try JSONValue.parse(row.1)) }
    }

    func lastTick(bot: String, plugin: String, schedule: String) async throws -> TickClaim? {
        try await database.client.withConnection { c in
            try await c.query("""
                SELECT due, done FROM plugin_tick WHERE bot = \(bot) AND plugin = \(plugin) AND schedule = \(schedule)
                """, logger: database.logger).collect().first
                .map { row in try row.decode((Int64, Bool).self) }.map { TickClaim(due: $0.0, done: $0.1) }
        }
    }

    func claimTick(bot: String, plugin: String, schedule: String, due: Int64, now: Int64, until: Int64,
                   takeOver: Bool) async throws -> Bool {
        // Two nodes inserting the same tick at once: the second waits for the first's row, then finds its due not
        // earlier, so only one gets a row back.
        try await database.client.withConnection { c in
            try await c.query("""
                INSERT INTO plugin_tick AS t (bot, plugin, schedule, due, done, claimed_by, claimed_until)
                VALUES (\(bot), \(plugin), \(schedule), \(due), false, \(owner), \(until))
                ON CONFLICT (bot, plugin, schedule) DO UPDATE SET due = excluded.due, done = false,
                claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
                WHERE t.due < excluded.due OR t.due > \(now + TickClaim.staleAfter)
                OR (t.due = excluded.due AND NOT t.done AND (t.claimed_until < \(now) OR t.claimed_by = excluded.claimed_by
                    OR \(takeOver)))
                RETURNING 1
                """, logger: database.logger).collect().count > 0
        }
    }

    func finishTick(bot: String, plugin: String, schedule: String, due: Int64) async throws {
        _ = try await database.client.withConnection { c in
            try await c.query("""
                UPDATE plugin_tick SET done = true
                WHERE bot = \(bot) AND plugin = \(plugin) AND schedule = \(schedule) AND due = \(due)
                """, logger: database.logger).collect().count
        }
    }
}
