import Foundation
import Hub
import HubPostgres
import IMProtocol
import NIOPosix
import PostgresNIO
import Testing

@Suite("PostgreSQL storage")
struct PostgresStorageTests {
    @Test("URLs are parsed into host, port, user, password and database; a socket directory replaces the host")
    func parsesURLs() throws {
        let tcp = try PostgresSettings(url: "postgres://mynah:p%40ss@db.example:6543/chat", poolSize: 7, tls: .require)
        #expect(tcp.host == "db.example" && tcp.port == 6543 && tcp.username == "mynah" && tcp.password == "p@ss")
        #expect(tcp.database == "chat" && tcp.poolSize == 7 && tcp.tls == .require && tcp.endpoint == "db.example:6543")
        let socket = try PostgresSettings(url: "postgresql://mynah@/chat?host=/run/postgresql")
        #expect(socket.host == nil && socket.socketDirectory == "/run/postgresql" && socket.port == 5432)
        #expect(socket.endpoint == "/run/postgresql/.s.PGSQL.5432")
        #expect(PostgresSettings.redacted("postgres://u:secret@h/d") == "postgres://u:***@h/d")
    }

    @Test("malformed URLs are refused with what is wrong", arguments: [
        ("mysql://u@h/d", "scheme is 'mysql'"),
        ("postgres://h/d", "names no user"),
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/", "names no database"),
        ("postgres://u@/d", "names no host"),
        ("postgres://u@/d?host=relative", "absolute socket directory"),
        ("not a url", "expected postgres://"),
    ])
    func refusesBadURLs(url: String, message: String) {
        #expect {
            _ = try PostgresSettings(url: url)
        } throws: { error in
            (error as? PostgresSettingsError)?.message.contains(message) == true
        }
    }

    @Test("a server that is not there is reported with its host, port and the reason")
    func unreachable() async throws {
        // A port the OS chose and nobody listens on any more.
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        let settings = try PostgresSettings(url: "postgres://mynah@127.0.0.1:\(port)/mynah", tls: .disable)
        await #expect {
            _ = try await PostgresStorage.open(settings)
        } throws: { error in
            guard let error = error as? PostgresUnreachable else { return false }
            return error.endpoint == "127.0.0.1:\(port)" && error.description.contains("127.0.0.1:\(port)")
                && !error.reason.isEmpty
        }
    }

    @Test("nodes starting at once on one database apply each migration exactly once")
    func concurrentMigrations() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let databases = try await withThrowingTaskGroup(of: PostgresStorage.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresStorage.open(settings) } }
                return try await group.reduce(into: [PostgresStorage]()) { $0.append($1) }
            }
            let rows = try await databases[0].client.query("SELECT component, name FROM schema_migrations ORDER BY 1, 2")
                .collect().map { try $0.decode((String, String).self) }
            #expect(rows.count == PostgresMigration.all.count)
            #expect(Set(rows.map { "\($0.0)/\($0.1)" }).count == rows.count)
            #expect(Set(rows.map(\.0)) == ["bridge", "cluster", "hub", "media", "plugins", "routing"])
            for database in databases { await database.close() }
            let again = try await PostgresStorage.open(settings)
            let count = try await again.client.query("SELECT COUNT(*) FROM schema_migrations").collect()
                .map { try $0.decode(Int64.self) }
            #expect(count == [Int64(PostgresMigration.all.count)])
            await again.close()
        }
    }

    @Test("a store reopened on the same database sees what an earlier one stored")
    func reopen() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let first = try await PostgresStorage.open(settings)
            let store = PostgresHubStore(database: first)
            try await store.syncApps(TestApps.all)
            let alice = try #require(try await store.insertUser(appKey: TestApps.a.appKey, username: "alice", kind: .user,
                                                                passwordHash: "$2b$h", profile: Profile(), now: 1))
            await first.close()
            let second = try await PostgresStorage.open(settings)
            #expect(try await PostgresHubStore(database: second).user(id: alice.id) == alice)
            await second.close()
        }
    }
}
