import Crypto
import Foundation
import HubPostgres
import NIOCore
import PostgresNIO
import Server
import Synchronization

/// Uploaded media in the cluster's PostgreSQL database (tables `media`, `media_blob`, `media_key`), the same contract
/// as the directory store (`MediaStore`): the same media ids, and download URLs signed with one key of the cluster,
/// so a file uploaded through one node is found and served by any other. A file has at most 8 MB (the upload limit),
/// stored once per content.
final class PostgresMediaStore: MediaStorage {
    let database: PostgresStorage
    private let key = Mutex<SymmetricKey?>(nil)

    /// A store on `database` (migrated by `PostgresStorage.open`).
    init(database: PostgresStorage) {
        self.database = database
    }

    func save(_ upload: MediaUpload, appKey: String, now: Int64) async throws -> MediaRecord {
        let (id, sha) = try MediaStore.identity(of: upload, appKey: appKey)
        let fresh = MediaStore.newRecord(upload, id: id, sha256: sha, appKey: appKey, now: now)
        let json = String(decoding: try MediaStore.encode(fresh), as: UTF8.self)
        // One transaction: the content (once per SHA-256) and the record; the same upload again, from this node or
        // another at once, keeps the first record.
        let stored = try await database.client.withTransaction(logger: database.logger) { c in
            _ = try await c.query("""
                INSERT INTO media_blob (sha256, content) VALUES (\(sha), \(ByteBuffer(bytes: upload.content)))
                ON CONFLICT (sha256) DO NOTHING
                """, logger: database.logger).collect()
            _ = try await c.query("""
                INSERT INTO media (hex, record) VALUES (\(id.hex), \(json)) ON CONFLICT (hex) DO NOTHING
                """, logger: database.logger).collect()
            return try await c.query("SELECT record FROM media WHERE hex = \(id.hex)", logger: database.logger)
                .collect().first?.decode(String.self)
        }
        guard let stored, let record = try? Self.decode(stored), record.mediaID == id.description,
              record.appKey == appKey else {
            throw MediaStorageError("the media record \(id) in the database is damaged or another's")
        }
        return record
    }

    func record(mediaID: MediaID, appKey: String) async throws -> MediaRecord? {
        guard let record = try await load(hex: mediaID.hex), record.mediaID == mediaID.description,
              record.appKey == appKey else { return nil }
        return record
    }

    func download(token: String, name: String) async throws -> (record: MediaRecord, content: MediaContent)? {
        guard let hex = MediaStore.downloadHex(token: token, name: name), let record = try await load(hex: hex),
              MediaStore.admits(record, token: token, name: name, key: try await signingKey()) else { return nil }
        let content = try await database.client.withConnection { c in
            try await c.query("SELECT content FROM media_blob WHERE sha256 = \(record.sha256)", logger: database.logger)
                .collect().first?.decode(ByteBuffer.self)
        }
        guard let content else { throw MediaStorageError("the content of media \(record.mediaID) is missing") }
        return (record, .bytes(content))
    }

    func urlToken(for record: MediaRecord) async throws -> String {
        MediaStore.token(for: record, key: try await signingKey())
    }

    func load(hex: String) async throws -> MediaRecord? {
        let text = try await database.client.withConnection { c in
            try await c.query("SELECT record FROM media WHERE hex = \(hex)", logger: database.logger)
                .collect().first?.decode(String.self)
        }
        guard let text else { return nil }
        do {
            return try Self.decode(text)
        } catch {
            throw MediaStorageError("the media record \(hex) in the database is damaged: \(error)")
        }
    }

    static func decode(_ text: String) throws -> MediaRecord {
        try JSONDecoder().decode(MediaRecord.self, from: Data(text.utf8))
    }

    /// The cluster's URL-signing key: the first node to need it stores a random one, every node reads that one.
    func signingKey() async throws -> SymmetricKey {
        if let cached = key.withLock({ $0 }) { return cached }
        let candidate = SymmetricKey(size: .bits256).withUnsafeBytes { ByteBuffer(bytes: $0) }
        let stored = try await database.client.withConnection { c in
            _ = try await c.query("INSERT INTO media_key (id, key) VALUES (1, \(candidate)) ON CONFLICT (id) DO NOTHING",
                              logger: database.logger).collect()
            return try await c.query("SELECT key FROM media_key WHERE id = 1", logger: database.logger)
                .collect().first?.decode(ByteBuffer.self)
        }
        guard let stored, stored.readableBytes == 32 else {
            throw MediaStorageError("the media key in the database is missing or damaged (media_key)")
        }
        let fresh = SymmetricKey(data: Array(stored.readableBytesView))
        key.withLock { $0 = fresh }
        return fresh
    }
}
