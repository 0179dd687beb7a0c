import Foundation
import GRDB
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Bridge
@testable import Hub
@testable import Mynah

/// "Durable before `sent`" (docs/gateway.md §8): every SQLite file Mynah keeps commits with `synchronous = FULL`, and
/// the daemon has fsynced a message's WAL frames before it answers the send.
@Suite struct DurabilityTests {
    /// `PRAGMA synchronous` as the writer connection of `pool` reports it: 2 is FULL, 1 NORMAL.
    static func writerSynchronous(_ pool: DatabasePool) throws -> Int {
        try DurableDatabase.writerSynchronous(pool)
    }

    @Test func theHubsFileCommitsWithSynchronousFull() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        #expect(try Self.writerSynchronous(store.pool) == 2)
    }

    @Test func theBridgesFileCommitsWithSynchronousFull() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteBridgeStore(path: dir.path + "/bridge.sqlite")
        #expect(try Self.writerSynchronous(store.pool) == 2)
    }

    @Test func thePluginDataFileCommitsWithSynchronousFull() throws {
        let dir = try TemporaryDirectory()
        let storage = try SQLitePluginStorage(path: dir.path + "/bots.sqlite")
        #expect(try Self.writerSynchronous(storage.pool) == 2)
    }

    /// The savepoint journals of the writers stay in memory (`DurableDatabase`): a temporary file cost a write
    /// syscall per changed page. `PRAGMA temp_store` 2 is MEMORY; readers have it too.
    @Test func temporaryFilesAreKeptInMemoryOnEveryConnection() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        #expect(try store.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA temp_store") } == 2)
        #expect(try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA temp_store") } == 2)
    }

    /// The writer's page cache holds the inbox pages of a 1,000-member group (`DurableDatabase.writerCacheKiB`): with
    /// SQLite's default 2 MB, the fan-out benchmark read 1.16 GB back from the kernel in 4 s (`/proc/PID/io`).
    @Test func theWriterKeepsALargePageCache() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteHubStore(path: dir.path + "/mynah.sqlite")
        #expect(try store.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA cache_size") }
                == -DurableDatabase.writerCacheKiB)
    }

    /// The WAL reaches the database file through `WALCheckpointer`'s own connection, not inside the writer's commits:
    /// SQLite's automatic checkpoint is set far above the 2 MB written here, yet the pages arrive in the file.
    @Test func theWALIsCheckpointedByItsOwnConnection() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/t.sqlite"
        let (checkpoints, sink) = AsyncStream.makeStream(of: (walFrames: Int, checkpointed: Int).self)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE filler (b BLOB NOT NULL)") }
        let pool = try DurableDatabase.open(path: path, migrator: migrator) { sink.yield(($0, $1)) }
        let autocheckpoint = try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") }
        #expect(autocheckpoint == WALCheckpointer.fallbackPages)
        let size = { (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let before = try size()
        try await pool.write { db in
            for _ in 0..<512 { try db.execute(sql: "INSERT INTO filler VALUES (zeroblob(4096))") }
        }
        // Every commit schedules a checkpoint: wait for one that copied the 512 pages' frames (a deadline, not a
        // pause: without a checkpoint the stream ends at 60 s and the size below fails).
        let deadline = Task { try await Task.sleep(for: .seconds(60)); sink.finish() }
        defer { deadline.cancel() }
        var copied = false
        for await c in checkpoints where c.walFrames >= 512 && c.checkpointed == c.walFrames {
            copied = true
            break
        }
        #expect(copied)
        #expect(try size() >= before + 512 * 4096)
    }

    /// The pragma survives reopening a file that already exists (GRDB's WAL setup runs on every open).
    @Test func aReopenedFileStillCommitsWithSynchronousFull() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/mynah.sqlite"
        do { _ = try SQLiteHubStore(path: path) }
        let store = try SQLiteHubStore(path: path)
        #expect(try Self.writerSynchronous(store.pool) == 2)
    }

    /// Compiles `scripts/sync-shim.c` (an `LD_PRELOAD` library that logs each `fsync`/`fdatasync` with its file,
    /// after the real call returned) into `dir` with the system C compiler and returns the library's path.
    static func buildShim(in dir: String) async throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/sync-shim.c").path
        let library = dir + "/sync-shim.so"
        let compiler = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let cc = try #require(compiler, "a C compiler (cc, gcc or clang) is needed to build the fsync-counting shim")
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: cc)
        process.arguments = ["-shared", "-fPIC", "-O1", "-o", library, source, "-ldl"]
        let status = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { c.resume(throwing: error) }
        }
        try #require(status == 0, "\(cc) could not build \(source)")
        return library
    }

    /// How many syncs of the hub's WAL (`mynah.sqlite-wal`) have completed so far.
    static func walSyncs(log: String) -> Int {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").filter { $0.hasSuffix("/mynah.sqlite-wal") }.count
    }

    /// Each message sent alone is its own commit batch: its WAL frames must have been synced before its `sent`.
    /// Before the fix the writer ran with `synchronous = NORMAL` and this saw no sync at all.
    @Test func everySendIsFsyncedBeforeItIsAnswered() async throws {
        let dir = try TemporaryDirectory()
        let shim = try await Self.buildShim(in: dir.path)
        let log = dir.path + "/syncs.log"
        let config = try CrashRecoveryTests.writeConfig(dir)
        let daemon = try await CrashRecoveryTests.DaemonProcess.start(
            configPath: config, environment: ["LD_PRELOAD": shim, "MYNAH_SYNC_LOG": log])
        defer { daemon.stop() }
        let rest = REST(port: daemon.port)
        let registered = try await rest.call("POST", "/v1/users/", body: """
            [{"username":"alice","password":"alice-pass"},{"username":"bob_b","password":"bob-pass"}]
            """)
        #expect(registered.status == 201)
        let alice = try await Demo.client(port: daemon.port, username: "alice", password: "alice-pass")
        defer { alice.close() }

        let messages = 20
        var unsynced: [Int] = []
        for i in 0..<messages {
            let before = Self.walSyncs(log: log)
            _ = try await alice.send(.init(requestID: "d\(i)", targetID: "bob_b", body: .text("m\(i)")))
            // The shim logs after fdatasync returned and before SQLite's commit returns, so a sync of this
            // message's commit is in the log by the time its `sent` arrived.
            if Self.walSyncs(log: log) <= before { unsynced.append(i) }
        }
        #expect(unsynced.isEmpty, "messages answered without a WAL sync since their send: \(unsynced)")
        #expect(Self.walSyncs(log: log) >= messages)
    }
}
