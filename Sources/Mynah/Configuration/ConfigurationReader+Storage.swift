import HubPostgres
import Yams

/// The `storage:` section of `bots.yaml`: where the hub, the bridge and the plugins keep their data.
/// Absent (or empty) means SQLite files under `data_dir`; `postgres:` means one PostgreSQL database.
public struct StorageSection: Sendable, Equatable {
    /// The PostgreSQL settings (`storage.postgres`), or `nil` for SQLite.
    public var postgres: PostgresSettings?
    /// Where `storage.postgres.url` is written, for errors found when the node connects.
    public var location: SourceLocation?

    /// Creates a section; SQLite by default.
    public init(postgres: PostgresSettings? = nil, location: SourceLocation? = nil) {
        self.postgres = postgres
        self.location = location
    }
}

extension ConfigurationReader {
    /// The keys of the storage mappings.
    enum StorageKeys {
        static let section = ["postgres"]
        static let postgres = ["url", "pool_size", "tls"]
    }

    /// Reads `storage:`; checks the URL's shape, the pool size and the TLS mode (it does not connect).
    func storage(_ field: Field?) throws(ConfigurationError) -> StorageSection {
        guard let field, let section = try optionalSection(field, keys: StorageKeys.section),
              let postgresField = section["postgres"] else { return StorageSection() }
        guard let postgres = try optionalSection(postgresField, keys: StorageKeys.postgres) else {
            throw error("expected a mapping with url (and optionally pool_size, tls)", at: postgresField)
        }
        let (url, urlField) = try requiredString(postgres, "url")
        try requireNonEmpty(url, urlField)
        var poolSize = 10
        if let f = postgres["pool_size"], let n = try integer(f) {
            guard (1...1000).contains(n) else { throw error("expected a pool size from 1 to 1000, got \(n)", at: f) }
            poolSize = n
        }
        var tls = PostgresSettings.TLSMode.prefer
        if let f = postgres["tls"], let text = try string(f) {
            guard let mode = PostgresSettings.TLSMode(rawValue: text) else {
                let modes = PostgresSettings.TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw error("expected one of \(modes), got \(quoted(text))", at: f)
            }
            tls = mode
        }
        do {
            let settings = try PostgresSettings(url: url, poolSize: poolSize, tls: tls)
            return StorageSection(postgres: settings, location: location(urlField.mark))
        } catch {
            throw self.error(error.message, at: urlField)
        }
    }
}
