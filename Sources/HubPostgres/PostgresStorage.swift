import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Where and how to reach PostgreSQL: parsed from `storage.postgres` (a `postgres://` URL, a pool size, a TLS mode).
public struct PostgresSettings: Sendable, Equatable {
    /// How the connection is encrypted.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP (loopback, a private network, a unix socket).
        case disable
        /// TLS when the server offers it, plain otherwise.
        case prefer
        /// TLS or no connection (certificates checked against the system's roots).
        case require
    }

    /// The server's host name or address (`nil` with a unix socket).
    public var host: String?
    /// The TCP port, 5432 unless the URL names one; also names the unix socket file.
    public var port: Int
    /// The directory of the server's unix socket, from the URL's `host=/dir` query item.
    public var socketDirectory: String?
    /// The role to log in as.
    public var username: String
    /// The role's password, if any.
    public var password: String?
    /// The database.
    public var database: String
    /// The most connections the node opens.
    public var poolSize: Int
    /// The TLS mode.
    public var tls: TLSMode

    /// Parses a URL of the form `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?host=/socket/dir]`
    /// (`postgresql://` too); throws a message naming what is wrong.
    public init(url: String, poolSize: Int = 10, tls: TLSMode = .prefer) throws(PostgresSettingsError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme else {
            throw PostgresSettingsError("'\(Self.redacted(url))' is not a URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresSettingsError("the URL's scheme is '\(scheme)'; expected postgres:// or postgresql://")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresSettingsError("the URL names no user; expected postgres://USER@HOST/DATABASE")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresSettingsError("the URL names no database; expected postgres://USER@HOST/DATABASE")
        }
        let socket = components.queryItems?.first(where: { $0.name == "host" })?.value
        if let socket, !socket.hasPrefix("/") {
            throw PostgresSettingsError("the URL's host= query item must be an absolute socket directory; got '\(socket)'")
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        guard host != nil || socket != nil else {
            throw PostgresSettingsError("the URL names no host; expected postgres://USER@HOST/DATABASE")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw PostgresSettingsError("the URL's port \(port) is not between 1 and 65535")
        }
        guard (1...1000).contains(poolSize) else {
            throw PostgresSettingsError("pool_size must be between 1 and 1000; got \(poolSize)")
        }
        self.host = socket == nil ? host : nil
        self.port = components.port ?? 5432
        self.socketDirectory = socket
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.poolSize = poolSize
        self.tls = tls
    }

    /// The URL with its password replaced by `***`, for messages and logs.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// Where the node connects, for messages: `host:port` or the socket path.
    public var endpoint: String {
        if let socketDirectory { return "\(socketDirectory)/.s.PGSQL.\(port)" }
        return "\(host ?? ""):\(port)"
    }

    func tlsConfiguration() throws -> PostgresConnection.Configuration.TLS {
        switch tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                         database: database)
        }
        return .init(host: host ?? "127.0.0.1", port: port, username: username, password: password, database: database,
                     tls: try tlsConfiguration())
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username,
                                  password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS = switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
            configuration = .init(host: host ?? "127.0.0.1", port: port, username: username, password: password,
                                  database: database, tls: tls)
        }
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 1
        return configuration
    }

    /// The same server and role with another database (tests create one database per test).
    public func with(database: String) -> PostgresSettings {
        var copy = self
        copy.database = database
        return copy
    }
}

/// Why a `storage.postgres` setting is unusable.
public struct PostgresSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, for `bots.yaml:LINE:COL: path: message`.
    public var message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// A node that cannot reach its database: where it tried and why it failed.
public struct PostgresUnreachable: Error, Sendable, CustomStringConvertible {
    /// `host:port` or the unix socket path.
    public var endpoint: String
    /// The database's name.
    public var database: String
    /// The reason, from the server or the network.
    public var reason: String

    /// "cannot reach PostgreSQL at HOST:PORT (database D): REASON".
    public var description: String { "cannot reach PostgreSQL at \(endpoint) (database '\(database)'): \(reason)" }
}

/// One node's connection pool to PostgreSQL, shared by the hub's, the bridge's and the plugins' stores.
///
/// `open` connects once (so a node that cannot reach the server says so and stops), applies the migrations
/// under an advisory lock (several nodes may start at once; one applies them, the others wait and find them
/// done), then starts the pool. `close` ends the pool.
public final class PostgresStorage: Sendable {
    /// The pool (postgres-nio's `PostgresClient`).
    public let client: PostgresClient
    /// The settings the pool was opened with.
    public let settings: PostgresSettings
    /// The logger of the pool's background work.
    public let logger: Logger
    private let runner: Task<Void, Never>
    private let closers = Mutex<[@Sendable () async -> Void]>([])

    /// The advisory lock key migrations run under ("mynah" in ASCII).
    static let migrationLock: Int64 = 0x6D79_6E61_68

    private init(settings: PostgresSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        self.client = client
        // Started at once (not scheduled), so that the pool runs before the first lease asks for a connection.
        runner = Task.immediate { await client.run() }
    }

    /// Connects, migrates with `migrations` (every component's, in order) and starts the pool.
    public static func open(_ settings: PostgresSettings, migrations: [PostgresMigration] = PostgresMigration.all,
                            logger: Logger = Logger(label: "mynah.postgres")) async throws -> PostgresStorage {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try settings.connectionConfiguration(),
                id: 0, logger: logger).get()
        } catch {
            throw PostgresUnreachable(endpoint: settings.endpoint, database: settings.database, reason: Self.reason(error))
        }
        do {
            try await migrate(connection, migrations, logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        return PostgresStorage(settings: settings, logger: logger)
    }

    /// Opens a pool on `settings` (migrated, as a node would), runs `body` with it and closes it, whether `body`
    /// returns or throws: for commands and tests that use the database briefly.
    public static func withOpened<T>(_ settings: PostgresSettings, logger: Logger = Logger(label: "mynah.postgres"),
                                     _ body: (PostgresStorage) async throws -> T) async throws -> T {
        let database = try await open(settings, logger: logger)
        do {
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }

    /// Runs `body` when the pool closes, before it does (the cluster's listener and heartbeat stop there).
    public func onClose(_ body: @escaping @Sendable () async -> Void) {
        closers.withLock { $0.append(body) }
    }

    /// Ends the pool (after whatever ``onClose(_:)`` registered, newest first); the stores fail afterwards.
    public func close() async {
        let pending = closers.withLock { c in
            defer { c = [] }
            return c
        }
        for body in pending.reversed() { await body() }
        runner.cancel()
        await runner.value
    }

    deinit {
        runner.cancel()
    }

    /// A readable reason for a connection or query failure: the server's message and SQLSTATE when there is one.
    public static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction, while holding
    /// the migration advisory lock.
    static func migrate(_ connection: PostgresConnection, _ migrations: [PostgresMigration], logger: Logger) async throws {
        try await connection.run("SELECT pg_advisory_lock(\(migrationLock))")
        do {
            try await connection.run("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    component TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, name))
                """)
            var applied = Set<String>()
            for try await (component, name) in try await connection.query(
                "SELECT component, name FROM schema_migrations", logger: logger).decode((String, String).self) {
                applied.insert("\(component)/\(name)")
            }
            for migration in migrations where !applied.contains("\(migration.component)/\(migration.name)") {
                try await connection.run("BEGIN")
                do {
                    for statement in migration.statements {
                        try await connection.run(PostgresQuery(unsafeSQL: statement))
                    }
                    _ = try await connection.query(
                        "INSERT INTO schema_migrations (component, name) VALUES (\(migration.component), \(migration.name))",
                        logger: logger).collect()
                    try await connection.run("COMMIT")
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger).collect()
                    throw error
                }
                logger.info("applied migration", metadata: ["migration": "\(migration.component)/\(migration.name)"])
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger).collect()
            throw error
        }
        try await connection.run("SELECT pg_advisory_unlock(\(migrationLock))")
    }

    /// Runs `body` on a pooled connection outside a transaction (one statement reads are atomic on their own).
    @discardableResult
    func read<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in try await body(connection) }
    }

    /// Runs `body` in a transaction on a pooled connection; commits when it returns, rolls back when it throws.
    /// A serialization failure or deadlock (SQLSTATE 40001, 40P01) is retried a few times: the transaction did
    /// nothing.
    @discardableResult
    func write<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    try await connection.run("BEGIN")
                    let value: T
                    do {
                        value = try await body(connection)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: quietLogger).collect()
                        throw error
                    }
                    try await connection.run("COMMIT")
                    return value
                }
            } catch let error as PSQLError where attempt < 5 && Self.isRetryable(error) {
                continue
            }
        }
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        let state = error.serverInfo?[.sqlState]
        return state == "40001" || state == "40P01"
    }
}

/// One schema change of one component (`hub`, `bridge`, `plugins`), applied once per database.
public struct PostgresMigration: Sendable {
    /// The component whose tables it changes.
    public var component: String
    /// Its name, unique within the component.
    public var name: String
    /// The statements, run in order in one transaction.
    public var statements: [String]

    /// Creates a migration.
    public init(component: String, name: String, statements: [String]) {
        self.component = component
        self.name = name
        self.statements = statements
    }

    /// Every component's migrations, in order.
    public static var all: [PostgresMigration] {
        PostgresHubStore.migrations + PostgresBridgeStore.migrations + plugins + PostgresCluster.migrations
            + PostgresRoutingStore.migrations + media
    }

    /// Uploaded media (`POST /v1/resource`): one row per media id, the content once per SHA-256 (at most 8 MB, the
    /// upload limit), and the cluster's one key that signs download URLs, so any node serves any upload.
    public static let media = [
        PostgresMigration(component: "media", name: "v1", statements: [
            "CREATE TABLE media (hex TEXT PRIMARY KEY, record TEXT NOT NULL)",
            "CREATE TABLE media_blob (sha256 TEXT PRIMARY KEY, content BYTEA NOT NULL)",
            "CREATE TABLE media_key (id INTEGER PRIMARY KEY, key BYTEA NOT NULL)",
        ]),
    ]

    /// The plugins' key-value table.
    public static let plugins = [
        PostgresMigration(component: "plugins", name: "v1", statements: ["""
            CREATE TABLE plugin_data (
                bot TEXT NOT NULL, plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (bot, plugin, key))
            """]),
        // Claims: a due entry (a reminder) or a cron tick fires on one node of several.
        PostgresMigration(component: "plugins", name: "v2 claims", statements: [
            "ALTER TABLE plugin_data ADD COLUMN claimed_by TEXT, ADD COLUMN claimed_until BIGINT",
            """
            CREATE TABLE plugin_tick (
                bot TEXT NOT NULL, plugin TEXT NOT NULL, schedule TEXT NOT NULL, due BIGINT NOT NULL,
                done BOOLEAN NOT NULL, claimed_by TEXT NOT NULL, claimed_until BIGINT NOT NULL,
                PRIMARY KEY (bot, plugin, schedule))
            """,
        ]),
    ]
}

let quietLogger = Logger(label: "mynah.postgres.query", factory: { _ in SwiftLogNoOpLogHandler() })

extension PostgresConnection {
    /// The rows of `query`, random access by column name.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: quietLogger).collect().map { $0.makeRandomAccess() }
    }

    /// The first row of `query`, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    /// Runs `query` for its effect; returns how many rows it returned (a `RETURNING 1` counts changed rows).
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query, logger: quietLogger).collect().count
    }

    /// The first column of the first row of `query`, decoded, or `nil` when there is no row or it is NULL.
    func value<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
        guard let row = try await self.query(query, logger: quietLogger).collect().first else { return nil }
        let cell = row.makeRandomAccess()[0]
        guard cell.bytes != nil else { return nil }
        return try cell.decode(T.self)
    }

    /// The first column of every row of `query`.
    func values<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        try await self.query(query, logger: quietLogger).collect().map { try $0.makeRandomAccess()[0].decode(T.self) }
    }
}

extension PostgresRandomAccessRow {
    /// The column `name` decoded as `T` (`T?` for nullable columns).
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try self[name].decode(T.self)
    }
}

extension PostgresStorage {
    /// Creates an empty database `name` (letters, digits and `_`) on the server of `settings`, connecting to
    /// `settings.database` to do it; for operators' tooling and the tests, which use one database per test.
    public static func createDatabase(_ name: String, using settings: PostgresSettings,
                                      logger: Logger = Logger(label: "mynah.postgres")) async throws {
        try await admin("CREATE DATABASE \(try identifier(name))", using: settings, logger: logger)
    }

    /// Drops the database `name`, disconnecting whoever is still connected to it.
    public static func dropDatabase(_ name: String, using settings: PostgresSettings,
                                    logger: Logger = Logger(label: "mynah.postgres")) async throws {
        try await admin("DROP DATABASE IF EXISTS \(try identifier(name)) WITH (FORCE)", using: settings, logger: logger)
    }

    static func identifier(_ name: String) throws -> String {
        guard !name.isEmpty, name.count <= 63,
              name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }) else {
            throw PostgresSettingsError("'\(name)' is not a database name of lowercase letters, digits and '_'")
        }
        return "\"\(name)\""
    }

    static func admin(_ sql: String, using settings: PostgresSettings, logger: Logger) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try settings.connectionConfiguration(),
                id: 0, logger: logger).get()
        } catch {
            throw PostgresUnreachable(endpoint: settings.endpoint, database: settings.database, reason: reason(error))
        }
        do {
            try await connection.run(PostgresQuery(unsafeSQL: sql))
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}
