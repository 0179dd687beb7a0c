import Crypto
import Foundation
import Hub
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

/// Durable media storage under one directory: content-addressed files, one metadata record per media id and a
/// per-daemon key that signs download URLs.
///
/// Layout: `hmac.key` (32 random bytes), `blobs/<2 hex>/<sha256>` (the content, shared by identical uploads),
/// `records/<media hex>.json`. Every file is written to a temporary file, fsynced and renamed before `save`
/// returns. File work runs on NIO's thread pool, off the concurrency pool.
package final class MediaStore: Sendable {
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
    package func download(token: String, name: String) async throws -> (record: MediaRecord, path: String)? {
        guard token.utf8.count == 64, token.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let (hex, _) = MediaID.splitFileName(name)
        else { return nil }
        return try await threadPool.runIfActive { [self] () throws(MediaStorageError) -> (MediaRecord, String)? in
            guard let record = try self.loadRecord(hex: hex), let id = MediaID(record.mediaID), id.fileName == name,
                  constantTimeEquals(try self.token(for: record), token)
            else { return nil }
            return (record, self.blobPath(record.sha256))
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
        let sha = Self.hex(SHA256.hash(data: upload.content))
        var derivation = Data("mynah-media-id-v1".utf8)
        for field in [appKey, upload.kind.rawValue, upload.format ?? "", upload.fname ?? "", sha] {
            derivation.append(0)
            derivation.append(contentsOf: field.utf8)
        }
        let idHex = Self.hex(SHA256.hash(data: derivation).prefix(16)).uppercased()
        let ext = upload.kind == .file ? upload.fname.flatMap(MediaID.fileExtension) : upload.format
        guard let id = MediaID(kind: upload.kind, hex: idHex, ext: ext) else {
            throw MediaStorageError("cannot form a media id from '\(idHex)' and '\(ext ?? "")'")
        }
        if let existing = try loadRecord(hex: idHex), existing.mediaID == id.description, existing.appKey == appKey,
           DurableFile.size(blobPath(sha)) == upload.content.count {
            return existing
        }
        let blob = blobPath(sha)
        if DurableFile.size(blob) != upload.content.count {
            try DurableFile.makeDirectory((blob as NSString).deletingLastPathComponent)
            try DurableFile.write(upload.content, to: blob)
        }
        let record = MediaRecord(
            mediaID: id.description, appKey: appKey, kind: upload.kind, sha256: sha,
            crc32: CRC32.checksum(upload.content), size: upload.content.count, format: upload.format,
            width: upload.width, height: upload.height, fname: upload.fname, contentType: upload.contentType,
            created: now)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: Data
        do {
            json = try encoder.encode(record)
        } catch {
            throw MediaStorageError("cannot encode the media record \(id): \(error)")
        }
        try DurableFile.makeDirectory(recordsDirectory)
        try DurableFile.write(json, to: recordPath(idHex))
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
        let message = Data("mynah-media-url-v1\n\(record.appKey)\n\(record.mediaID)".utf8)
        return Self.hex(HMAC<SHA256>.authenticationCode(for: message, using: try signingKey()))
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

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
