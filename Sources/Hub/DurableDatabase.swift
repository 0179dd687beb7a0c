import GRDB

/// Opens the SQLite files Mynah keeps (the hub's, the bridge's, the plugins'): WAL mode through a GRDB pool,
/// `synchronous = FULL` so that every committed transaction survives a crash, a 5 s busy timeout, and migrations.
public enum DurableDatabase {
    /// Opens (creating if needed) the database at `path` and migrates it with `migrator`.
    public static func open(path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Temporary files in memory. The writers run pieces of a turn's transaction in savepoints (each write of
            // `GroupCommitWriter`; the hub's acknowledgements, and its appends after one failed having written), and
            // SQLite copies every page a savepoint changes into a statement journal first: a temporary file by
            // default, which took 93 % of the hub's write syscalls in the 1:1 benchmark when every append had its
            // savepoint (strace: 21.6 MB to the journal against 1.6 MB to the WAL in 3 s). The journal lives only
            // until the savepoint's RELEASE; durability is the WAL's, not the journal's.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        let pool = try DatabasePool(path: path, configuration: config)
        // Not in `prepareDatabase`: GRDB's pool runs its WAL setup on the writer after that hook, and the WAL setup
        // sets `synchronous = NORMAL`, under which a commit is not fsynced (only checkpoints are). The writer
        // connection lives as long as the pool, so setting it here holds for every later write.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try migrator.migrate(pool)
        return pool
    }

    /// The `synchronous` level in force on the writer connection of `pool` (2 is FULL), for tests and `mynah check`.
    public static func writerSynchronous(_ pool: DatabasePool) throws -> Int {
        try pool.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
    }
}
