import AsyncHTTPClient
import Foundation
import IMProtocol
import NIOCore
import NIOHTTP1

/// A file a plugin sends as an image or file message: the bot uploads the bytes to its hub's media store
/// (`POST /v1/resource`) and sends the message that refers to the upload, so a plugin never handles media ids.
///
/// ```swift
/// return [.attach(Attachment(kind: .image, content: png, filename: "chart.png"))]      // into this conversation
/// ```
public struct Attachment: Sendable, Hashable {
    /// How the upload is sent: an image message (PNG, JPEG or GIF, its size read by the hub) or a file message.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An image message.
        case image
        /// A file message, named `filename`.
        case file
    }

    /// The largest attachment, as for any upload: 8 MB.
    public static let maxBytes = 8 << 20

    /// Image or file.
    public var kind: Kind
    /// The bytes.
    public var content: [UInt8]
    /// The file's name, shown for files (`fname`).
    public var filename: String

    /// Creates an attachment.
    public init(kind: Kind, content: [UInt8], filename: String) {
        self.kind = kind
        self.content = content
        self.filename = filename
    }

    /// Reads `{"kind": "image"|"file", "name": "chart.png", "base64": "..."}`; the error names the bad field.
    public init(json: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = json else {
            throw ProtocolError(path: path, reason: "expected an object with kind, name and base64, got \(json.typeName)")
        }
        for key in o.keys where !["kind", "name", "base64"].contains(key) {
            throw ProtocolError(path: "\(path).\(key)", reason: "unknown key; an attachment takes kind, name and base64")
        }
        guard let kindName = o["kind"]?.stringValue, let kind = Kind(rawValue: kindName) else {
            throw ProtocolError(path: "\(path).kind", reason: "expected image or file")
        }
        guard let name = o["name"]?.stringValue, !name.isEmpty else {
            throw ProtocolError(path: "\(path).name", reason: "expected a non-empty file name")
        }
        guard let encoded = o["base64"]?.stringValue else {
            throw ProtocolError(path: "\(path).base64", reason: "required: the file's bytes in base64")
        }
        guard let data = Data(base64Encoded: encoded) else {
            throw ProtocolError(path: "\(path).base64", reason: "not valid base64")
        }
        guard !data.isEmpty, data.count <= Self.maxBytes else {
            throw ProtocolError(path: "\(path).base64", reason: "the file must have 1 to \(Self.maxBytes) bytes, has \(data.count)")
        }
        self.init(kind: kind, content: Array(data), filename: name)
    }

    /// The attachment as a JSON object (the form external plugins and webhooks send).
    public var json: JSONValue {
        ["kind": .string(kind.rawValue), "name": .string(filename), "base64": .string(Data(content).base64EncodedString())]
    }
}

/// Stores an attachment where the bot's hub can serve it and returns the message body that refers to it.
public protocol MediaUploader: Sendable {
    /// Uploads `attachment` as media of the app `appKey` (the recipients' app, so that their clients may fetch it);
    /// returns an image or file body with the upload's media id, CRC and sizes.
    func upload(_ attachment: Attachment, appKey: String) async throws -> MessageBody
}

/// Uploads through a Mynah's (or JMessage's) REST API: `POST /v1/resource?type=image|file` as multipart form data,
/// authenticated as the recipients' app with its master secret.
public struct RESTMediaUploader: MediaUploader {
    /// The hub's HTTP base URL, e.g. `http://127.0.0.1:8080`; asked on each upload (the embedded hub's port is
    /// known only once it listens).
    public let baseURL: @Sendable () async -> String
    /// The master secret of each app uploads may go to, by AppKey.
    public let secrets: [String: String]
    let client: HTTPClient

    /// Creates an uploader.
    public init(baseURL: @escaping @Sendable () async -> String, secrets: [String: String],
                client: HTTPClient = .shared) {
        self.baseURL = baseURL
        self.secrets = secrets
        self.client = client
    }

    /// Uploads and builds the body from the answer.
    public func upload(_ attachment: Attachment, appKey: String) async throws -> MessageBody {
        guard let masterSecret = secrets[appKey] else {
            throw BotError("cannot upload '\(attachment.filename)' into app \(appKey): its master secret is not known here")
        }
        let boundary = "mynah-\(UUID().uuidString)"
        let safeName = attachment.filename.replacingOccurrences(of: "\"", with: "_")
            .replacingOccurrences(of: "\r", with: "_").replacingOccurrences(of: "\n", with: "_")
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"\(safeName)\"\r\n"
                         + "Content-Type: application/octet-stream\r\n\r\n")
        body.writeBytes(attachment.content)
        body.writeString("\r\n--\(boundary)--\r\n")
        let url = "\(await baseURL())/v1/resource?type=\(attachment.kind.rawValue)"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization",
                            value: "Basic " + Data("\(appKey):\(masterSecret)".utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        request.body = .bytes(body)
        let response = try await client.execute(request, timeout: .seconds(30))
        let answer = try await response.body.collect(upTo: 1 << 16)
        let json = (try? JSONValue.parse(answer.readableBytesView)) ?? .null
        guard response.status.code == 200 else {
            let code = json["error"]?["code"]?.intValue.map { ", code \($0)" } ?? ""
            let reason = json["error"]?["message"]?.stringValue.map { ": \($0)" } ?? ""
            throw BotError("upload of '\(attachment.filename)' refused (HTTP \(response.status.code)\(code))\(reason)")
        }
        guard let mediaID = json["media_id"]?.stringValue, let crc = json["media_crc32"]?.intValue,
              let size = json["fsize"]?.intValue else {
            throw BotError("upload of '\(attachment.filename)': unexpected answer \(json.serializedString())")
        }
        switch attachment.kind {
        case .image:
            return .image(.init(mediaID: mediaID, mediaCRC32: crc, width: Double(json["width"]?.intValue ?? 0),
                                height: Double(json["height"]?.intValue ?? 0), format: json["format"]?.stringValue,
                                fsize: size))
        case .file:
            return .file(.init(mediaID: mediaID, mediaCRC32: crc, fsize: size,
                               fname: json["fname"]?.stringValue ?? attachment.filename))
        }
    }
}
