import Foundation
import HTTPTypes
import Hub
import Hummingbird
import IMProtocol
import Logging
import NIOCore

/// Media: `POST /v1/resource?type=image|voice|file` (upload, multipart field `filename`), `GET /v1/resource?mediaId=`
/// (a download URL) and `GET /media/{token}/{name}` (the download that URL points at, without Basic auth).
struct MediaAPI {
    let hub: Hub
    let store: (any MediaStorage)?

    /// The form field the official SDKs put the file in.
    static let fieldName = "filename"
    /// The most a request body may have: one 8 MB file plus room for the multipart framing.
    static let maxBodyBytes = MediaUpload.maxBytes + 64 * 1024

    /// Serves media from `store`; nil answers every media request with a clear error.
    init(hub: Hub, store: (any MediaStorage)?) {
        self.hub = hub
        self.store = store
    }

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/resource", use: upload)
        router.get("/v1/resource", use: downloadURL)
        router.get("/media/:token/:name", use: download)
    }

    /// POST /v1/resource?type=: stores one file and answers its media id with the facts of its kind.
    @Sendable func upload(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let store = try requireStore()
        guard let typeText = request.uri.queryParameters["type"], !typeText.isEmpty else {
            throw APIError(.invalidParameter, "type: required; one of image, voice, file")
        }
        guard let kind = MediaKind(rawValue: String(typeText)) else {
            throw APIError(.invalidParameter, "type: must be image, voice or file, got '\(typeText.prefix(40))'")
        }
        let boundary: String
        do {
            boundary = try MultipartFormData.boundary(contentType: request.headers[.contentType])
        } catch {
            throw APIError(.invalidParameter, error.description)
        }
        let tooLarge = "body: larger than \(Self.maxBodyBytes) bytes; a file may have at most \(MediaUpload.maxBytes) "
            + "bytes (8 MB)"
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > Self.maxBodyBytes {
            throw APIError(.invalidParameter, tooLarge)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            throw APIError(.invalidParameter, tooLarge)
        }
        let form: MultipartFormData
        do {
            form = try MultipartFormData(body: Array(buffer.readableBytesView), boundary: boundary)
        } catch {
            throw APIError(.invalidParameter, error.description)
        }
        let files = form.parts(named: Self.fieldName)
        guard let part = files.first else {
            let names = form.parts.map { "'\($0.name.prefix(40))'" }.joined(separator: ", ")
            throw APIError(.invalidParameter, "\(Self.fieldName): the form has no field '\(Self.fieldName)' (it has \(names))")
        }
        guard files.count == 1 else {
            throw APIError(.invalidParameter, "\(Self.fieldName): \(files.count) files in one request; send one")
        }
        let media: MediaUpload
        do {
            media = try MediaUpload(kind: kind, content: part.body, filename: part.filename)
        } catch {
            throw APIError(.invalidParameter, "\(Self.fieldName): \(error.description)")
        }
        let record = try await storage(context) { try await store.save(media, appKey: app.appKey, now: Hub.nowMillis()) }
        return JSONResponse.make(status: .ok, Self.json(record))
    }

    /// GET /v1/resource?mediaId=: `{"url": ...}` pointing at this daemon, for media of the caller's app only.
    @Sendable func downloadURL(_ request: Request, context: some RequestContext) async throws -> Response {
        let app = try request.authenticatedApp(hub)
        let store = try requireStore()
        guard let text = request.uri.queryParameters["mediaId"], !text.isEmpty else {
            throw APIError(.invalidParameter, "mediaId: required")
        }
        guard let id = MediaID(String(text)) else {
            throw APIError(.invalidParameter, "mediaId: '\(text.prefix(100))' is not a media id of this server "
                + "(expected qiniu/<image|voice|file>/j/<32 hex digits>[.<ext>])")
        }
        guard let record = try await storage(context, { try await store.record(mediaID: id, appKey: app.appKey) })
        else {
            throw APIError(.invalidParameter, "mediaId: no media '\(id)' in app \(app.appKey)")
        }
        guard let host = request.head.authority, Self.isValidAuthority(host) else {
            throw APIError(.invalidParameter, "Host: a valid Host header is required to build the download URL")
        }
        let token = try await storage(context) { try await store.urlToken(for: record) }
        return JSONResponse.make(status: .ok, ["url": .string("http://\(host)/media/\(token)/\(id.fileName)")])
    }

    /// GET /media/{token}/{name}: the stored bytes with their Content-Type and Content-Length; 404 unless the
    /// token is the one this daemon signed for that media.
    @Sendable func download(_ request: Request, context: some RequestContext) async throws -> Response {
        let store = try requireStore()
        let token = context.parameters.get("token") ?? ""
        let name = context.parameters.get("name") ?? ""
        guard let found = try await storage(context, { try await store.download(token: token, name: name) }) else {
            throw MediaHTTPError(status: .notFound, APIError(.invalidParameter, "no such media"))
        }
        let record = found.record
        let body: ResponseBody
        switch found.content {
        case .file(let path): body = try await FileIO().loadFile(path: path, context: context)
        case .bytes(let bytes): body = ResponseBody(byteBuffer: bytes)
        }
        var headers: HTTPFields = [
            .contentType: record.contentType,
            .contentLength: String(record.size),
            .xContentTypeOptions: "nosniff",
            .cacheControl: "private, max-age=86400",
        ]
        if record.kind == .file, let fname = record.fname {
            headers[.contentDisposition] = Self.attachment(fname)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    func requireStore() throws -> any MediaStorage {
        guard let store else {
            throw MediaHTTPError(status: .notImplemented, APIError(
                .internalError, "media storage is not configured on this server (no media directory)"))
        }
        return store
    }

    /// Runs a storage call; its failures are logged in full and answered 899000 without server paths.
    func storage<T>(_ context: some RequestContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as MediaStorageError {
            context.logger.error("media storage failed", metadata: ["error": "\(error)"])
            throw APIError(.internalError, "media storage failed; see the server log")
        }
    }

    /// The upload answer: image `{media_id, media_crc32, width, height, format, fsize}`, file `{media_id,
    /// media_crc32, fname, fsize, hash}`, voice `{media_id, media_crc32, hash, format, fsize}`.
    static func json(_ record: MediaRecord) -> JSONValue {
        var o: [String: JSONValue] = [
            "media_id": .string(record.mediaID),
            "media_crc32": .int(Int64(record.crc32)),
            "fsize": .int(Int64(record.size)),
        ]
        switch record.kind {
        case .image:
            o["width"] = .int(Int64(record.width ?? 0))
            o["height"] = .int(Int64(record.height ?? 0))
            o["format"] = .string(record.format ?? "")
        case .voice:
            o["hash"] = .string(record.sha256)
            o["format"] = .string(record.format ?? "")
        case .file:
            o["hash"] = .string(record.sha256)
            o["fname"] = .string(record.fname ?? "")
        }
        return .object(o)
    }

    /// Whether a Host value is a plain `host[:port]` (name, IPv4 or bracketed IPv6) safe to put into a URL.
    static func isValidAuthority(_ text: String) -> Bool {
        (1...255).contains(text.utf8.count) && text.utf8.allSatisfy { c in
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: ":")
                || c == UInt8(ascii: "[") || c == UInt8(ascii: "]") || c == UInt8(ascii: "_")
        }
    }

    /// `attachment` with the name both as ASCII fallback and RFC 5987 UTF-8.
    static func attachment(_ fname: String) -> String {
        let ascii = String(fname.unicodeScalars.map { $0.isASCII && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let encoded = fname.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: ".-_")))
            ?? ascii
        return "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
    }
}

/// A JMessage error body with a status of its own: 404 for a download that does not exist, 501 without media storage.
struct MediaHTTPError: Error, HTTPResponseError {
    /// The HTTP status.
    let status: HTTPResponse.Status
    /// The code and message of the body.
    let error: APIError

    init(status: HTTPResponse.Status, _ error: APIError) {
        self.status = status
        self.error = error
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, ["error": error.json])
    }
}
