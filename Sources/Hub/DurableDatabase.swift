import Dispatch
import GRDB
import Synchronization

/// Opens the SQLite files Mynah keeps (the hub's, the bridge's, the plugins'): WAL mode through a GRDB pool,
/// `synchronous = FULL` so that every committed transaction survives a crash, a 5 s busy timeout, migrations, and
/// the WAL checkpointed from a connection of its own (`WALCheckpointer`) instead of inside the writer's commits.
public enum DurableDatabase {
    /// The writer connection's page cache, in KiB (SQLite's default is 2,000).
    static let writerCacheKiB = 65_536

    /// Opens (creating if needed) the database at `path` and migrates it with `migrator`. `didCheckpoint`, for tests,
    /// is told each background checkpoint's outcome: the WAL's frames and how many of them are in the database file.
    public static func open(path: String, migrator: DatabaseMigrator,
                            didCheckpoint: (@Sendable (_ walFrames: Int, _ checkpointed: Int) -> Void)? = nil) throws -> DatabasePool {
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
            // SQLite's own checkpoint stays as a safety net, far above what `WALCheckpointer` lets the WAL reach.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.fallbackPages)")
            // The writer's page cache: a group message's entries go to the inbox of each of its members, one B-tree
            // page each (moved there by `WriterBacklog`), and SQLite's default 2 MB (about 500 pages) is not enough
            // for 1,000 members: every write of them read its pages back from the kernel (`pread`). Pages are taken
            // as used; a small file never holds this much.
            try db.execute(sql: "PRAGMA cache_size = -\(writerCacheKiB)")
        }
        try migrator.migrate(pool)
        var checkpointing = Configuration()
        checkpointing.busyMode = .timeout(5)
        let checkpointer = WALCheckpointer(try DatabaseQueue(path: path, configuration: checkpointing),
                                           didCheckpoint: didCheckpoint)
        pool.add(transactionObserver: checkpointer, extent: .databaseLifetime)
        return pool
    }

    /// The `synchronous` level in force on the writer connection of `pool` (2 is FULL), for tests and `mynah check`.
    public static func writerSynchronous(_ pool: DatabasePool) throws -> Int {
        try pool.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
    }
}

/// Checkpoints a WAL file (copies committed pages into the database file) from a connection and a thread of its own,
/// a moment after the writer commits. SQLite's automatic checkpoint runs inside the commit that crosses its
/// threshold, on the writer: 8–12 % of the hub's writer thread in the 1:1 profile, and a pause of milliseconds for
/// every message of that turn. A passive checkpoint never blocks the writer or the readers, and a commit is durable
/// in the WAL before any checkpoint (`synchronous = FULL`), so moving it changes no guarantee.
final class WALCheckpointer: TransactionObserver, Sendable {
    /// The WAL pages at which SQLite checkpoints inside a commit anyway (the default is 1,000). Under sustained
    /// writes the WAL only starts over from its beginning after a checkpoint that caught up with the last commit,
    /// which one running beside the writer rarely does; so the WAL grows to this size, and the writer's checkpoint
    /// there (of the little not copied yet) lets it start over. About 64 MB of `-wal` file on a busy database.
    static let fallbackPages = 16_000
    /// How long after a commit the checkpoint runs: the commits of that time share it.
    static let delay = DispatchTimeInterval.milliseconds(100)

    private let connection: DatabaseQueue
    private let scheduled = Atomic<Bool>(false)
    private let didCheckpoint: (@Sendable (Int, Int) -> Void)?

    /// Checkpoints through `connection`, a connection to the same file used for nothing else.
    init(_ connection: DatabaseQueue, didCheckpoint: (@Sendable (Int, Int) -> Void)? = nil) {
        self.connection = connection
        self.didCheckpoint = didCheckpoint
    }

    /// Schedules a checkpoint unless one is already waiting. Called on the writer after each commit.
    func databaseDidCommit(_ db: Database) {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + Self.delay) { [self] in
            connection.asyncWriteWithoutTransaction { [self] db in
                // Commits from now on schedule the next one: cleared when this one starts, not when it was queued,
                // so a slow checkpoint has at most one more waiting behind it.
                scheduled.store(false, ordering: .releasing)
                // A passive checkpoint copies what no reader still needs and returns; the next commit schedules
                // another. It fails only while another checkpoint runs (SQLite's fallback), which does the same work.
                guard let result = try? db.checkpoint(.passive) else { return }
                didCheckpoint?(result.walFrameCount, result.checkpointedFrameCount)
            }
        }
    }

    /// Asks for no row events: only commits matter.
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }

    /// Never called: no row events are asked for.
    func databaseDidChange(with event: DatabaseEvent) {}

    /// Nothing was committed, nothing to checkpoint.
    func databaseDidRollback(_ db: Database) {}
}
