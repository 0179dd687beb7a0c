import GRDB

/// Opens the SQLite files Mynah keeps (the hub's, the bridge's, the plugins'): WAL mode through a GRDB pool,
/// `synchronous = FULL` so that every committed transaction survives a crash, a 5 s busy timeout, and migrations.
public enum DurableDatabase {
    /// Opens (creating if needed) the database at `path` and migrates it with `migrator`.
    public static func open(path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        config.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: config)
        try migrator.migrate(pool)
        return pool
    }
}
