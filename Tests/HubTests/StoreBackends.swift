import Foundation
import Hub
import HubPostgres
import Testing

/// The store backends every contract test runs on.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// The throwaway PostgreSQL server of `scripts/test-postgres.sh` (or `.ci/run`), named by `MYNAH_TEST_POSTGRES_URL`.
enum TestPostgres {
    /// Why a PostgreSQL case cannot run: it fails, never silently passes.
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            "MYNAH_TEST_POSTGRES_URL is not set: start a throwaway server with "
                + "`eval \"$(scripts/test-postgres.sh start)\"` (or run .ci/run, which does) and run the tests again"
        }
    }

    /// The server's settings (the URL names an administrative database such as `postgres`).
    static func settings() throws -> PostgresSettings {
        guard let url = ProcessInfo.processInfo.environment["MYNAH_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw NotConfigured()
        }
        return try PostgresSettings(url: url, poolSize: 4, tls: .disable)
    }

    /// Runs `body` with the settings of a new, empty database, dropped afterwards whatever happens.
    static func withFreshDatabase<T>(_ body: (PostgresSettings) async throws -> T) async throws -> T {
        let admin = try settings()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStorage.createDatabase(name, using: admin)
        do {
            let result = try await body(admin.with(database: name))
            try await PostgresStorage.dropDatabase(name, using: admin)
            return result
        } catch {
            try? await PostgresStorage.dropDatabase(name, using: admin)
            throw error
        }
    }

    /// Runs `body` with a migrated pool on a new database; closes the pool and drops the database afterwards.
    static func withDatabase<T>(_ body: (PostgresStorage) async throws -> T) async throws -> T {
        try await withFreshDatabase { settings in try await PostgresStorage.withOpened(settings, body) }
    }
}
