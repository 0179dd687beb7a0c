import Crypto
import Foundation
import Hub
import NIOCore
import NIOPosix
import Synchronization

/// What the daemon knows of one stored media file; kept as JSON next to the content, one record per media id.
package struct MediaRecord: Sendable, Codable, Equatable {
    /// The media id as given to the client.
    package var mediaID: String
    /// The app that uploaded it; only this app may ask for its URL.
    package var appKey: String
    /// Image, voice or file.
    package var kind: MediaKind
    /// SHA-256 of the content, lower-case hex; the wire's `hash` and the name of the content file.
    package var sha256: String
    /// CRC-32 (zlib) of the content; the wire's `media_crc32`.
    package var crc32: UInt32
    /// Size in bytes; the wire's `fsize`.
    package var size: Int
    /// `png`/`jpg`/`gif` or the audio format.
    package var format: String?
    /// Image width in pixels.
    package var width: Int?
    /// Image height in pixels.
    package var height: Int?
    /// The file name of a `type=file` upload.
    package var fname: String?
    /// The Content-Type downloads are served with.
    package var contentType: String
    /// When it was first stored, milliseconds since 1970.
    package var created: Int64
}

/// Where uploads are kept: ``MediaStore``'s directory (the node's data directory, or one the nodes share) or, on
/// PostgreSQL, the cluster's database (Mynah's `PostgresMediaStore`). The media ids and URL tokens are the same.
package protocol MediaStorage: Sendable {
    /// Stores an upload of `appKey` (durably, before returning) and returns its record; the same content uploaded
    /// again by the same app as the same kind (and file name) gets the same media id.
    func save(_ upload: MediaUpload, appKey: String, now: Int64) async throws -> MediaRecord
    /// The record of `mediaID` when it exists and belongs to `appKey`; nil otherwise (the two are not told apart).
    func record(mediaID: MediaID, appKey: String) async throws -> MediaRecord?
    /// The record and content for a download URL's `token` and `name`; nil unless both are right.
    func download(token: String, name: String) async throws -> (record: MediaRecord, content: MediaContent)?
    /// The path component that makes a download URL unguessable (HMAC-SHA256 over the AppKey and media id).
    func urlToken(for record: MediaRecord) async throws -> String
}

/// A download's bytes: a file to stream, or bytes read from a database.
package enum MediaContent: Sendable {
    /// A file's path, streamed from disk.
    case file(String)
    /// The bytes themselves.
    case bytes(ByteBuffer)
}

extension MediaStore {
    /// The media id and the content's SHA-256 (hex) of an upload by `appKey`: derived from the app, the kind, the
    /// format, the file name and the content, so that the same upload gets the same id on any node.
    package static func identity(of upload: MediaUpload, appKey: String) throws(MediaStorageError)
        -> (id: MediaID, sha256: String) {
        let sha = hex(SHA256.hash(data: upload.content))
        var derivation = Data("mynah-media-id-v1".utf8)
        for field in [appKey, upload.kind.rawValue, upload.format ?? "", upload.fname ?? "", sha] {
            derivation.append(0)
            derivation.append(contentsOf: field.utf8)
        }
        let idHex = hex(SHA256.hash(data: derivation).prefix(16)).uppercased()
        let ext = upload.kind == .file ? upload.fname.flatMap(MediaID.fileExtension) : upload.format
        guard let id = MediaID(kind: upload.kind, hex: idHex, ext: ext) else {
            throw MediaStorageError("cannot form a media id from '\(idHex)' and '\(ext ?? "")'")
        }
        return (id, sha)
    }

    /// The record of a new upload.
    package static func newRecord(_ upload: MediaUpload, id: MediaID, sha256: String, appKey: String, now: Int64)
        -> MediaRecord {
        MediaRecord(mediaID: id.description, appKey: appKey, kind: upload.kind, sha256: sha256,
                    crc32: CRC32.checksum(upload.content), size: upload.content.count, format: upload.format,
                    width: upload.width, height: upload.height, fname: upload.fname, contentType: upload.contentType,
                    created: now)
    }

    /// A record as stored: JSON with sorted keys.
    package static func encode(_ record: MediaRecord) throws(MediaStorageError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(record)
        } catch {
            throw MediaStorageError("cannot encode the media record \(record.mediaID): \(error)")
        }
    }

    /// A download URL's token for `record` under `key`.
    package static func token(for record: MediaRecord, key: SymmetricKey) -> String {
        let message = Data("mynah-media-url-v1\n\(record.appKey)\n\(record.mediaID)".utf8)
        return hex(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }

    /// The media hex of a download URL's `name` when `token` has a token's shape; nil otherwise.
    package static func downloadHex(token: String, name: String) -> String? {
        guard token.utf8.count == 64, token.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let (hex, _) = MediaID.splitFileName(name)
        else { return nil }
        return hex
    }

    /// Whether `record` is the one a download URL names with `name` and signed `token` under `key`.
    package static func admits(_ record: MediaRecord, token: String, name: String, key: SymmetricKey) -> Bool {
        guard let id = MediaID(record.mediaID), id.fileName == name else { return false }
        return constantTimeEquals(Self.token(for: record, key: key), token)
    }
}

/// Durable media storage under one directory: content-addressed files, one metadata record per media id and a
/// per-daemon key that signs download URLs.
///
/// Layout: `hmac.key` (32 random bytes), `blobs/<2 hex>/<sha256>` (the content, shared by identical uploads),
/// `records/<media hex>.json`. Every file is written to a temporary file, fsynced and renamed before `save`
/// returns. File work runs on NIO's thread pool, off the concurrency pool.
package final class MediaStore: MediaStorage {
    /// The media directory, e.g. `<data-dir>/media`.
    package let directory: String
    private let key = Mutex<SymmetricKey?>(nil)
    private let threadPool: NIOThreadPool

    /// Uses `directory`, which is created (with its key) on first use.
    package init(directory: String, threadPool: NIOThreadPool = .singleton) {
        self.directory = directory
        self.threadPool = threadPool
    }

    /// Stores an upload of `appKey` and returns its record; the same content uploaded again by the same app as the
    /// same kind (and file name) gets the same media id.
    package func save(_ upload: MediaUpload, appKey: String, now: Int64) async throws -> MediaRecord {
        try await threadPool.runIfActive { [self] () throws(MediaStorageError) -> MediaRecord in
            try self.saveBlocking(upload, appKey: appKey, now: now)
        }
    }

    /// The record of `mediaID` when it exists and belongs to `appKey`; nil otherwise (the two are not told apart).
    package func record(mediaID: MediaID, appKey: String) async throws -> MediaRecord? {
        try await threadPool.runIfActive { [self] () throws(MediaStorageError) -> MediaRecord? in
            guard let record = try self.loadRecord(hex: mediaID.hex), record.mediaID == mediaID.description,
                  record.appKey == appKey
            else { return nil }
            return record
        }
    }

    /// The record and content path for a download URL's `token` and `name`; nil unless both are right.
    package func download(token: String, name: String) async throws -> (record: MediaRecord, content: MediaContent)? {
        guard let hex = Self.downloadHex(token: token, name: name) else { return nil }
        return try await threadPool.runIfActive { [self] () throws(MediaStorageError) -> (MediaRecord, MediaContent)? in
            guard let record = try self.loadRecord(hex: hex),
                  Self.admits(record, token: token, name: name, key: try self.signingKey())
            else { return nil }
            return (record, .file(self.blobPath(record.sha256)))
        }
    }

    /// The path component that makes a download URL unguessable: HMAC-SHA256 over the AppKey and media id with the
    /// daemon's key, in hex.
    package func urlToken(for record: MediaRecord) async throws -> String {
        try await threadPool.runIfActive { [self] () throws(MediaStorageError) -> String in
            try self.token(for: record)
        }
    }

    // MARK: Blocking work, on the thread pool

    func saveBlocking(_ upload: MediaUpload, appKey: String, now: Int64) throws(MediaStorageError) -> MediaRecord {
        let (id, sha) = try Self.identity(of: upload, appKey: appKey)
        if let existing = try loadRecord(hex: id.hex), existing.mediaID == id.description, existing.appKey == appKey,
           DurableFile.size(blobPath(sha)) == upload.content.count {
            return existing
        }
        let blob = blobPath(sha)
        if DurableFile.size(blob) != upload.content.count {
            try DurableFile.makeDirectory((blob as NSString).deletingLastPathComponent)
            try DurableFile.write(upload.content, to: blob)
        }
        let record = Self.newRecord(upload, id: id, sha256: sha, appKey: appKey, now: now)
        try DurableFile.makeDirectory(recordsDirectory)
        try DurableFile.write(try Self.encode(record), to: recordPath(id.hex))
        return record
    }

    func loadRecord(hex: String) throws(MediaStorageError) -> MediaRecord? {
        guard let bytes = try DurableFile.read(recordPath(hex)) else { return nil }
        do {
            return try JSONDecoder().decode(MediaRecord.self, from: Data(bytes))
        } catch {
            throw MediaStorageError("the media record '\(recordPath(hex))' is damaged: \(error)")
        }
    }

    func token(for record: MediaRecord) throws(MediaStorageError) -> String {
        Self.token(for: record, key: try signingKey())
    }

    /// The daemon's URL-signing key: read from `hmac.key`, or made and stored durably the first time.
    func signingKey() throws(MediaStorageError) -> SymmetricKey {
        let result: Result<SymmetricKey, MediaStorageError> = key.withLock { cached in
            if let cached { return .success(cached) }
            do throws(MediaStorageError) {
                let path = directory + "/hmac.key"
                if let bytes = try DurableFile.read(path) {
                    guard bytes.count == 32 else {
                        throw MediaStorageError(
                            "the media key '\(path)' is damaged (\(bytes.count) bytes, expected 32); delete it to make "
                                + "a new one (download URLs given out before stop working)")
                    }
                    cached = SymmetricKey(data: bytes)
                } else {
                    try DurableFile.makeDirectory(directory)
                    let fresh = SymmetricKey(size: .bits256)
                    try DurableFile.write(fresh.withUnsafeBytes { Array($0) }, to: path)
                    cached = fresh
                }
                return .success(cached!)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    var recordsDirectory: String { directory + "/records" }

    func recordPath(_ hex: String) -> String { recordsDirectory + "/" + hex + ".json" }

    func blobPath(_ sha: String) -> String { directory + "/blobs/" + sha.prefix(2) + "/" + sha }

    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
