import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import IMProtocol
import NIOCore
import Server
import Testing

/// Real, decodable images built byte by byte (no image library, no tools at test time).
enum TestImages {
    /// An 8-bit RGB PNG: IHDR, one IDAT holding a zlib stream of stored (uncompressed) deflate blocks, IEND.
    static func png(width: Int, height: Int) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)  // filter type None
            for x in 0..<width {
                raw += [UInt8(truncatingIfNeeded: x * 40), UInt8(truncatingIfNeeded: y * 60), 0x80]
            }
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            let final: UInt8 = offset + n == raw.count ? 1 : 0
            zlib += [final] + le16(n) + le16(~n & 0xFFFF)
            zlib += raw[offset..<offset + n]
            offset += n
        } while offset < raw.count
        zlib += be32(adler32(raw))
        var ihdr = be32(width) + be32(height)
        ihdr += [8, 2, 0, 0, 0]  // depth 8, RGB, deflate, adaptive filtering, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return be32(data.count) + typeBytes + data + be32(Int(CRC32.checksum(typeBytes + data)))
    }

    /// A baseline grayscale JPEG whose every 8x8 block is flat mid-grey: DC and AC Huffman tables of one 1-bit code
    /// each (DC category 0, AC end-of-block), so each block is the two bits `00`.
    static func jpeg(width: Int, height: Int, beforeFrame: [UInt8] = [], frameMarker: UInt8 = 0xC0) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        out += [0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
        out += [0xFF, 0xDB, 0x00, 0x43, 0x00] + [UInt8](repeating: 1, count: 64)
        out += beforeFrame
        out += [0xFF, frameMarker, 0x00, 0x0B, 0x08] + be16(height) + be16(width) + [0x01, 0x01, 0x11, 0x00]
        let oneCode: [UInt8] = [0x01] + [UInt8](repeating: 0, count: 15) + [0x00]
        out += [0xFF, 0xC4, 0x00, 0x14, 0x00] + oneCode
        out += [0xFF, 0xC4, 0x00, 0x14, 0x10] + oneCode
        out += [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]
        let blocks = ((width + 7) / 8) * ((height + 7) / 8)
        let bits = blocks * 2
        var scan = [UInt8](repeating: 0, count: bits / 8)
        if bits % 8 != 0 { scan.append(UInt8(0xFF >> (bits % 8))) }  // pad the last byte with 1-bits
        out += scan
        out += [0xFF, 0xD9]
        return out
    }

    /// A GIF89a with a two-colour palette, a graphic control extension and one image; the LZW stream sends a clear
    /// code before every pixel, so codes stay 3 bits wide and no table is ever built.
    static func gif(width: Int, height: Int) -> [UInt8] {
        var out = Array("GIF89a".utf8) + le16(width) + le16(height) + [0x80, 0x00, 0x00]
        out += [0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF]  // black, white
        out += [0x21, 0xF9, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]  // graphic control extension
        out += [0x2C, 0, 0, 0, 0] + le16(width) + le16(height) + [0x00]
        out += [0x02]  // LZW minimum code size
        var codes: [Int] = []
        for i in 0..<(width * height) {
            codes += [4, (i / width + i % width) % 2]  // clear, pixel
        }
        codes.append(5)  // end of information
        var data: [UInt8] = []
        var accumulator = 0
        var count = 0
        for code in codes {
            accumulator |= code << count
            count += 3
            while count >= 8 {
                data.append(UInt8(accumulator & 0xFF))
                accumulator >>= 8
                count -= 8
            }
        }
        if count > 0 { data.append(UInt8(accumulator & 0xFF)) }
        var offset = 0
        while offset < data.count {
            let n = min(255, data.count - offset)
            out.append(UInt8(n))
            out += data[offset..<offset + n]
            offset += n
        }
        out += [0x00, 0x3B]
        return out
    }

    static func adler32(_ bytes: [UInt8]) -> Int {
        var a = 1, b = 0
        for byte in bytes {
            a = (a + Int(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
}

/// Short audio files with real signatures.
enum TestAudio {
    /// An MP3 with an ID3v2 header followed by one MPEG-1 layer III frame header.
    static let mp3: [UInt8] = Array("ID3".utf8) + [0x04, 0x00, 0x00, 0, 0, 0, 0] + [0xFF, 0xFB, 0x90, 0x64]
        + [UInt8](repeating: 0x55, count: 413)
    /// An AMR-NB file: magic and a few silent frames.
    static let amr: [UInt8] = Array("#!AMR\n".utf8) + [UInt8](repeating: 0x7C, count: 40)
    /// A WAV header with 8 samples of silence.
    static let wav: [UInt8] = Array("RIFF".utf8) + [44, 0, 0, 0] + Array("WAVEfmt ".utf8)
        + [16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0]
        + Array("data".utf8) + [8, 0, 0, 0] + [UInt8](repeating: 0x80, count: 8)
}

/// One part of a multipart body a test sends.
struct FormPart {
    var name: String
    var filename: String?
    var contentType: String?
    var content: [UInt8]

    /// The file field the SDKs send.
    static func file(_ content: [UInt8], filename: String? = "upload.bin", contentType: String? = "application/octet-stream")
        -> FormPart {
        FormPart(name: "filename", filename: filename, contentType: contentType, content: content)
    }
}

/// Builds `multipart/form-data` bodies the way curl and the SDKs do.
enum Multipart {
    static let boundary = "------------------------mynahTestBoundary7MA4YWxk"

    static var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    static func body(_ parts: [FormPart], boundary: String = Multipart.boundary) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            head += "\r\n"
            if let contentType = part.contentType { head += "Content-Type: \(contentType)\r\n" }
            head += "\r\n"
            out += Array(head.utf8) + part.content + Array("\r\n".utf8)
        }
        out += Array("--\(boundary)--\r\n".utf8)
        return out
    }
}

/// A response with its body as bytes.
struct RawReply: Sendable, CustomStringConvertible {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> JSONValue { try JSONValue.parse(body) }

    var description: String { "\(status.code) \(text.prefix(300))" }

    /// As a `Reply`, for `expectError`.
    var reply: Reply { Reply(status: status, headers: headers, text: text) }
}

/// The server with media storage in `directory/media`, driven through a test client.
struct MediaServer: Sendable {
    let client: any TestClientProtocol
    /// In live mode, a keep-alive client of the real socket with a hang guard instead of a speed requirement.
    var live: TestClient? = nil
    let directory: String

    var mediaDirectory: String { directory + "/media" }

    func send(_ method: HTTPRequest.Method, _ uri: String, as credentials: Credentials = .main,
              headers extra: HTTPFields = [:], body: [UInt8]? = nil) async throws -> RawReply {
        var headers = extra
        if let auth = credentials.headerValue { headers[.authorization] = auth }
        if let live {
            headers[.connection] = "keep-alive"
            let response = try await live.execute(.init(uri, method: method, authority: "localhost", headers: headers,
                                                         body: body.map { ByteBuffer(bytes: $0) }))
            return RawReply(status: response.head.status, headers: response.head.headerFields,
                            body: response.body.map { Array($0.readableBytesView) } ?? [])
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) {
            RawReply(status: $0.status, headers: $0.headers, body: Array($0.body.readableBytesView))
        }
    }

    /// POST /v1/resource?type= with the given parts.
    func upload(_ type: String, _ parts: [FormPart], as credentials: Credentials = .main) async throws -> RawReply {
        try await send(.post, "/v1/resource?type=\(type)", as: credentials, headers: [.contentType: Multipart.contentType],
                       body: Multipart.body(parts))
    }

    /// Uploads one file and requires a 200; returns the answer's JSON.
    func uploadOK(_ type: String, _ content: [UInt8], filename: String? = "upload.bin", as credentials: Credentials = .main,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let reply = try await upload(type, [.file(content, filename: filename)], as: credentials)
        try #require(reply.status == .ok, "\(reply)", sourceLocation: sourceLocation)
        return try reply.json()
    }

    /// GET /v1/resource?mediaId= and requires a 200; returns the URL.
    func url(of mediaID: String, as credentials: Credentials = .main,
             sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let reply = try await send(.get, "/v1/resource?mediaId=\(mediaID)", as: credentials)
        try #require(reply.status == .ok, "\(reply)", sourceLocation: sourceLocation)
        return try #require(try reply.json()["url"]?.stringValue, sourceLocation: sourceLocation)
    }

    /// GET of a download URL's path (the test client has its own host).
    func download(_ url: String) async throws -> RawReply {
        let path = try #require(URL(string: url)?.path)
        return try await send(.get, path, as: .none)
    }
}

/// A fresh temporary directory for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-media-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir)
}

/// Runs `test` against a hub and an HTTP server whose media lives in `directory/media` (nil: no media directory).
func withMediaServer<T: Sendable>(
    in directory: String, media: Bool = true, _ mode: TestingSetup = .router,
    _ test: @Sendable (MediaServer) async throws -> T
) async throws -> T {
    let store = try SQLiteHubStore(path: directory + "/hub.sqlite")
    let hub = try await Hub(configuration: .init(apps: Apps.settings, passwordCost: 4), store: store)
    let app = HTTPServer.application(
        hub: hub, configuration: .init(port: 0, mediaDirectory: media ? directory + "/media" : nil))
    return try await app.test(mode) { client in
        guard let port = client.port else { return try await test(MediaServer(client: client, directory: directory)) }
        // Live: HummingbirdTesting's own client gives up after 20 s without a read, which a 9 MB upload in a debug
        // build beside the whole suite on two cores once exceeded; this one waits up to 3 minutes (a hang guard).
        let live = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(180)))
        live.connect()
        do {
            let value = try await test(MediaServer(client: client, live: live, directory: directory))
            try await live.shutdown()
            return value
        } catch {
            try? await live.shutdown()
            throw error
        }
    }
}
