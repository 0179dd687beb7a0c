import BotKit
import Foundation
import Hub
import HubPostgres
import IMClient
import IMProtocol
import NIOCore
import NIOPosix
import Testing
import MynahTesting
@testable import Mynah

/// The throwaway PostgreSQL server named by `MYNAH_TEST_POSTGRES_URL` (set by `scripts/test-postgres.sh` and `.ci/run`).
enum TestPostgres {
    /// Why a PostgreSQL case cannot run: it fails, never silently passes.
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            "MYNAH_TEST_POSTGRES_URL is not set: start a throwaway server with "
                + "`eval \"$(scripts/test-postgres.sh start)\"` (or run .ci/run, which does) and run the tests again"
        }
    }

    static var url: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["MYNAH_TEST_POSTGRES_URL"], !url.isEmpty else {
                throw NotConfigured()
            }
            return url
        }
    }

    /// Runs `body` with the settings (and URL) of a new, empty database, dropped afterwards whatever happens.
    static func withFreshDatabase<T>(_ body: (PostgresSettings, String) async throws -> T) async throws -> T {
        let admin = try PostgresSettings(url: try url, poolSize: 4, tls: .disable)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStorage.createDatabase(name, using: admin)
        var components = try #require(URLComponents(string: try url))
        components.path = "/" + name
        let databaseURL = try #require(components.string)
        do {
            let result = try await body(admin.with(database: name), databaseURL)
            try await PostgresStorage.dropDatabase(name, using: admin)
            return result
        } catch {
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
    }

    /// A loopback port nobody listens on (chosen by the OS, then closed).
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }
}

/// The daemon with `storage: postgres`: the gateway, the bots and a restart on one PostgreSQL database.
@Suite struct PostgresDaemonTests {
    @Test func messagesGoThroughTheGatewayAndSurviveARestartOnPostgres() async throws {
        try await TestPostgres.withFreshDatabase { settings, _ in
            let configure: (inout MynahConfiguration) -> Void = { $0.storage = StorageSection(postgres: settings) }
            var ids: [Int64] = []
            do {
                let dir = try TemporaryDirectory()
                let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4), configure: configure)
                ids = try await daemon.withRunning { port in
                    try await Demo.register(daemon, "alice", password: "alice-pass")
                    try await Demo.register(daemon, "bob_b", password: "bob-pass")
                    let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
                    // The echo bot runs on the same database and answers.
                    let ping = try await alice.send(.init(targetID: "echo_bot", body: .text("ping")))
                    let reply = try await alice.messages.first()
                    #expect(reply.stored.message.fromID == "echo_bot" && reply.stored.message.body == .text("ping"))
                    #expect(reply.stored.msgID > ping.msgID && reply.seq == 1)
                    var ids: [Int64] = []
                    for i in 1...5 {
                        ids.append(try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))).msgID)
                    }
                    alice.close()
                    return ids
                }
            }
            // Another node's data directory, the same database: bob was offline and gets everything, in order.
            let dir = try TemporaryDirectory()
            let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4), configure: configure)
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/mynah.sqlite"))
            let expected = ids
            try await daemon.withRunning { port in
                let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
                var iterator = bob.messages.makeAsyncIterator()
                var got: [Int64] = []
                for seq in 1...5 {
                    let d = try #require(await iterator.next())
                    #expect(d.seq == Int64(seq))
                    #expect(d.stored.message.body.text == "m\(seq)")
                    got.append(d.stored.msgID)
                }
                #expect(got == expected)
                bob.close()
                let history = try await REST(port: port).call("GET", "/v2/users/alice/messages?count=100&\(EndToEndTests.range(around: Date()))")
                #expect(history.json?["total"]?.intValue == 7)  // ping, its echo, m1...m5
            }
        }
    }

    @Test func aNodeThatCannotReachItsDatabaseSaysWhereAndWhyAndDoesNotStart() async throws {
        let port = try await TestPostgres.closedPort()
        let settings = try PostgresSettings(url: "postgres://mynah@127.0.0.1:\(port)/mynah", tls: .disable)
        let dir = try TemporaryDirectory()
        await #expect {
            _ = try await Demo.daemon(dir, options: .init(passwordCost: 4)) { $0.storage = StorageSection(postgres: settings) }
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.path == "storage.postgres.url" && error.message.contains("cannot reach PostgreSQL at 127.0.0.1:\(port)")
        }
    }

    @Test func mynahRunExitsNonZeroWhenTheDatabaseIsUnreachable() async throws {
        let port = try await TestPostgres.closedPort()
        let dir = try TemporaryDirectory()
        try """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: ./data
            storage:
              postgres:
                url: postgres://mynah@127.0.0.1:\(port)/mynah
                tls: disable
            """.write(toFile: dir.path + "/bots.yaml", atomically: true, encoding: .utf8)
        let check = try await CommandLineTests.run(["check"], in: dir.path)
        #expect(check.status == 0, "\(check.stderr)")
        let run = try await CommandLineTests.run(["run"], in: dir.path)
        #expect(run.status != 0)
        #expect(run.stderr.contains("cannot reach PostgreSQL at 127.0.0.1:\(port) (database 'mynah')"), "stderr: \(run.stderr)")
    }

    @Test(arguments: ["sqlite", "postgres"])
    func pluginStorageKeepsValuesAndListsByPrefix(backend: String) async throws {
        func exercise(_ storage: any PluginStorage) async throws {
            #expect(try await storage.value(bot: "b", plugin: "p", key: "k") == nil)
            try await storage.setValue(.string("v1"), bot: "b", plugin: "p", key: "k")
            try await storage.setValue(.object(["n": .int(2)]), bot: "b", plugin: "p", key: "k")
            try await storage.setValue(.int(1), bot: "b", plugin: "p", key: "a%_1")
            try await storage.setValue(.int(2), bot: "b", plugin: "p", key: "a%_2")
            try await storage.setValue(.int(3), bot: "b", plugin: "p", key: "ab")
            try await storage.setValue(.int(4), bot: "b", plugin: "other", key: "a%_3")
            #expect(try await storage.value(bot: "b", plugin: "p", key: "k") == .object(["n": .int(2)]))
            // A prefix is literal: % and _ are not patterns.
            let listed = try await storage.entries(bot: "b", plugin: "p", prefix: "a%_")
            #expect(listed.map(\.key) == ["a%_1", "a%_2"])
            #expect(listed.map(\.value) == [.int(1), .int(2)])
            try await storage.setValue(.null, bot: "b", plugin: "p", key: "k")
            #expect(try await storage.value(bot: "b", plugin: "p", key: "k") == nil)
        }
        if backend == "sqlite" {
            let dir = try TemporaryDirectory()
            try await exercise(try SQLitePluginStorage(path: dir.path + "/bots.sqlite"))
        } else {
            try await TestPostgres.withFreshDatabase { settings, _ in
                let database = try await PostgresStorage.open(settings)
                do {
                    try await exercise(PostgresPluginStorage(database: database))
                } catch {
                    await database.close()
                    throw error
                }
                await database.close()
            }
        }
    }
}

/// `storage:` in `bots.yaml`.
@Suite struct StorageConfigurationTests {
    func load(_ yaml: String, environment: [String: String] = [:]) throws(ConfigurationError) -> MynahConfiguration {
        try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: environment)
    }

    @Test func sqliteIsTheDefault() throws {
        #expect(try load("data_dir: ./d\n").storage.postgres == nil)
        #expect(try load("storage:\n").storage.postgres == nil)
    }

    @Test func theMediaDirectoryIsReadBesideEitherStore() throws {
        #expect(try load("data_dir: ./d\n").storage.mediaDirectory == nil)
        #expect(try load("storage:\n  media: {directory: /mnt/shared/media}\n").storage.mediaDirectory == "/mnt/shared/media")
        let both = try load("storage:\n  media: {directory: /mnt/m}\n  postgres: {url: \"postgres://u@h/d\"}\n").storage
        #expect(both.mediaDirectory == "/mnt/m" && both.postgres?.host == "h")
    }

    @Test func postgresIsReadWithItsPoolSizeAndTLSModeAndTheURLFromTheEnvironment() throws {
        let config = try load("""
            storage:
              postgres:
                url: "${DATABASE_URL}"
                pool_size: 24
                tls: require
            """, environment: ["DATABASE_URL": "postgres://mynah:pw@db.internal:5433/mynah"])
        let settings = try #require(config.storage.postgres)
        #expect(settings.host == "db.internal" && settings.port == 5433 && settings.database == "mynah")
        #expect(settings.username == "mynah" && settings.password == "pw")
        #expect(settings.poolSize == 24 && settings.tls == .require)
        #expect(config.storage.location == SourceLocation(file: "bots.yaml", line: 3, column: 10))
    }

    @Test(arguments: [
        ("storage:\n  postgress: {}\n", "bots.yaml:2:3: storage: unknown key 'postgress'; did you mean 'postgres'?"),
        ("storage:\n  postgres:\n    pool_size: 3\n", "bots.yaml:3:5: storage.postgres.url: missing required key"),
        ("storage:\n  postgres:\n    url: mysql://u@h/d\n", "bots.yaml:3:10: storage.postgres.url: the URL's scheme is 'mysql'"),
        ("storage:\n  postgres:\n    url: postgres://h/d\n", "bots.yaml:3:10: storage.postgres.url: the URL names no user"),
        ("storage:\n  postgres:\n    url: postgres://u@h/d\n    pool_size: 0\n",
         "bots.yaml:4:16: storage.postgres.pool_size: expected a pool size from 1 to 1000, got 0"),
        ("storage:\n  postgres:\n    url: postgres://u@h/d\n    tls: maybe\n",
         "bots.yaml:4:10: storage.postgres.tls: expected one of disable, prefer, require, got 'maybe'"),
        ("storage:\n  postgres:\n", "bots.yaml:2:3: storage.postgres: expected a mapping with url"),
        ("storage:\n  media:\n    dir: /x\n", "bots.yaml:3:5: storage.media: unknown key 'dir'"),
        ("storage:\n  media:\n    directory: \"\"\n", "bots.yaml:3:16: storage.media.directory:"),
        ("storage:\n  media: /x\n", "bots.yaml:2:10: storage.media:"),
    ])
    func errorsNameTheLineColumnAndPath(yaml: String, expected: String) {
        #expect {
            _ = try load(yaml)
        } throws: { error in
            "\(error)".hasPrefix(expected)
        }
    }
}
