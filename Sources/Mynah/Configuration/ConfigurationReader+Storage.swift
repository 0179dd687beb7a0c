import HubPostgres
import Yams

/// The `storage:` section of `bots.yaml`: where the hub, the bridge and the plugins keep their data.
/// Absent (or empty) means SQLite files under `data_dir`; `postgres:` means one PostgreSQL database.
public struct StorageSection: Sendable, Equatable {
    /// The PostgreSQL settings (`storage.postgres`), or `nil` for SQLite.
    public var postgres: PostgresSettings?
    /// Where `storage.postgres.url` is written, for errors found when the node connects.
    public var location: SourceLocation?
    /// `storage.media.directory`: where uploaded media is kept instead of the default (`<data_dir>/media` on
    /// SQLite, the database on PostgreSQL); a directory every node mounts, for a cluster.
    public var mediaDirectory: String?

    /// Creates a section; SQLite by default.
    public init(postgres: PostgresSettings? = nil, location: SourceLocation? = nil, mediaDirectory: String? = nil) {
        self.postgres = postgres
        self.location = location
        self.mediaDirectory = mediaDirectory
    }
}

extension ConfigurationReader {
    /// The keys of the storage mappings.
    enum StorageKeys {
        static let section = ["postgres", "media"]
        static let media = ["directory"]
        static let postgres = ["url", "pool_size", "tls"]
    }

    /// Reads `storage:`; checks the URL's shape, the pool size and the TLS mode (it does not connect), and the
    /// media directory.
    func storage(_ field: Field?) throws(ConfigurationError) -> StorageSection {
        guard let field, let section = try optionalSection(field, keys: StorageKeys.section) else { return StorageSection() }
        var result = StorageSection()
        if let mediaField = section["media"] {
            guard let media = try optionalSection(mediaField, keys: StorageKeys.media) else {
                throw error("expected a mapping with directory", at: mediaField)
            }
            let (directory, directoryField) = try requiredString(media, "directory")
            try requireNonEmpty(directory, directoryField)
            result.mediaDirectory = directory
        }
        guard let postgresField = section["postgres"] else { return result }
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
            result.postgres = try PostgresSettings(url: url, poolSize: poolSize, tls: tls)
            result.location = location(urlField.mark)
            return result
        } catch {
            throw self.error(error.message, at: urlField)
        }
    }
}
