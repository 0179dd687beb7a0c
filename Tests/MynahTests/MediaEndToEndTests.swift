import Foundation
import IMClient
import IMProtocol
import Server
import Testing
@testable import Mynah
import MynahTesting
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Media through a real daemon: URLSession uploads over loopback, an image message carrying the upload's answer,
/// the download URL served by the daemon itself, and the file still there after a restart.
@Suite struct MediaEndToEndTests {
    /// A 6x4 RGB PNG built by hand (stored deflate blocks), decodable by any viewer.
    static let png: [UInt8] = {
        let width = 6, height = 4
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)
            for x in 0..<width { raw += [UInt8(x * 40), UInt8(y * 60), 0x80] }
        }
        var a = 1, b = 0
        for byte in raw {
            a = (a + Int(byte)) % 65521
            b = (b + a) % 65521
        }
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            be32(data.count) + Array(type.utf8) + data + be32(Int(CRC32.checksum(Array(type.utf8) + data)))
        }
        let n = raw.count
        let zlib: [UInt8] = [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8 & 0xFF)]
            + raw + be32(b << 16 | a)
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", be32(width) + be32(height) + [8, 2, 0, 0, 0]) + chunk("IDAT", zlib) + chunk("IEND", [])
    }()

    /// POSTs one file as `multipart/form-data` in the field `filename`, as the SDKs do.
    static func upload(port: Int, type: String, bytes: [UInt8], filename: String) async throws -> (Int, JSONValue?) {
        let boundary = "----MynahE2E\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"\(filename)\"\r\n".utf8)
        body += Data("Content-Type: application/octet-stream\r\n\r\n".utf8)
        body += Data(bytes)
        body += Data("\r\n--\(boundary)--\r\n".utf8)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/resource?type=\(type)")!)
        request.httpMethod = "POST"
        request.setValue(Demo.basic, forHTTPHeaderField: "Authorization")
        request.setValue("multipart/form-data; boundary=\(boundary)", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONValue.parse(data))
    }

    static func fetch(_ url: String) async throws -> (status: Int, contentType: String?, body: [UInt8]) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Content-Type"), Array(data))
    }

    @Test func uploadSendAsImageMessageDownloadAndRestart() async throws {
        let dir = try TemporaryDirectory()
        let (mediaID, firstURL) = try await Demo.daemon(dir).withRunning { port in
            let rest = REST(port: port)
            try #require(try await rest.call("POST", "/v1/users/", body: #"[{"username":"alice","password":"alice-pass"}]"#)
                .status == 201)
            try #require(try await rest.call("POST", "/v1/admins/", body: #"{"username":"ops_admin","password":"admin-pass"}"#)
                .status == 201)

            let (status, answer) = try await Self.upload(port: port, type: "image", bytes: Self.png, filename: "dot.png")
            try #require(status == 200, "\(String(describing: answer))")
            let image = try #require(answer)
            #expect(image["width"] == 6)
            #expect(image["height"] == 4)
            #expect(image["format"] == "png")
            #expect(image["fsize"]?.intValue == Int64(Self.png.count))
            let mediaID = try #require(image["media_id"]?.stringValue)

            // The upload's answer is an image message body as it stands.
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let send = try await rest.call("POST", "/v1/messages", body: """
                {"version":1,"target_type":"single","target_id":"alice","from_type":"admin","from_id":"ops_admin",
                 "msg_type":"image","msg_body":\(image.serializedString())}
                """)
            try #require(send.status == 201, "\(String(describing: send.json))")
            let delivery = try await alice.messages.first()
            guard case .image(let body) = delivery.stored.message.body else {
                Issue.record("not an image: \(delivery.stored.message.body)")
                return (mediaID, "")
            }
            #expect(body.mediaID == mediaID)
            #expect(body.mediaCRC32 == image["media_crc32"]?.intValue)
            alice.close()

            // The recipient's side: a URL for the media id, served by this daemon.
            let get = try await rest.call("GET", "/v1/resource?mediaId=\(mediaID)")
            #expect(get.status == 200)
            let url = try #require(get.json?["url"]?.stringValue)
            #expect(url.hasPrefix("http://127.0.0.1:\(port)/media/"))
            let file = try await Self.fetch(url)
            #expect(file.status == 200)
            #expect(file.contentType == "image/png")
            #expect(file.body == Self.png)
            return (mediaID, url)
        }
        // Stored under the data directory, content-addressed.
        let blobs = try FileManager.default.subpathsOfDirectory(atPath: dir.path + "/media/blobs")
        let blob = try #require(blobs.first { $0.contains("/") })
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/media/blobs/" + blob))) == Self.png)

        // A new daemon on the same data directory serves the same media under the same path.
        try await Demo.daemon(dir).withRunning { port in
            let get = try await REST(port: port).call("GET", "/v1/resource?mediaId=\(mediaID)")
            #expect(get.status == 200)
            let url = try #require(get.json?["url"]?.stringValue)
            #expect(URL(string: url)?.path == URL(string: firstURL)?.path)
            let file = try await Self.fetch(url)
            #expect(file.status == 200)
            #expect(file.body == Self.png)
        }
    }

    @Test func oversizeAndMalformedUploadsOverRealSockets() async throws {
        try await Demo.withDaemon { _, port in
            let big = [UInt8](repeating: 1, count: 8 * 1024 * 1024 + 1)
            let (status, answer) = try await Self.upload(port: port, type: "file", bytes: big, filename: "big.bin")
            #expect(status == 400)
            #expect(answer?["error"]?["code"] == 899003)
            let (badStatus, bad) = try await Self.upload(port: port, type: "image", bytes: Array("text".utf8),
                                                         filename: "x.png")
            #expect(badStatus == 400)
            #expect(bad?["error"]?["message"] == "filename: not a PNG, JPEG or GIF image")
        }
    }
}

/// Media in a cluster: an upload through one node is found, and served, by another, either from the database
/// (the default on PostgreSQL) or from a directory the nodes share (`storage.media.directory`).
@Suite struct MediaClusterTests {
    @Test(arguments: ["postgres", "shared directory"])
    func anUploadThroughOneNodeIsServedByAnother(setup: String) async throws {
        let shared = try TemporaryDirectory()
        try await Self.withStorage(setup, shared: shared) { storage in
            try await Demo.withDaemon(configure: storage) { a, portA in
                let (status, answer) = try await MediaEndToEndTests.upload(port: portA, type: "image",
                                                                          bytes: MediaEndToEndTests.png, filename: "dot.png")
                try #require(status == 200, "\(String(describing: answer))")
                let mediaID = try #require(answer?["media_id"]?.stringValue)
                // The same content again: the same id, stored once.
                let again = try await MediaEndToEndTests.upload(port: portA, type: "image",
                                                                bytes: MediaEndToEndTests.png, filename: "dot.png")
                #expect(again.1?["media_id"]?.stringValue == mediaID)
                let urlA = try #require(try await REST(port: portA).call("GET", "/v1/resource?mediaId=\(mediaID)")
                    .json?["url"]?.stringValue)

                try await Demo.withDaemon(configure: storage) { b, portB in
                    let get = try await REST(port: portB).call("GET", "/v1/resource?mediaId=\(mediaID)")
                    #expect(get.status == 200, "\(String(describing: get.json))")
                    let urlB = try #require(get.json?["url"]?.stringValue)
                    #expect(urlB.hasPrefix("http://127.0.0.1:\(portB)/media/"))
                    // One signing key for the cluster: both nodes sign the same path, and each serves the other's URL.
                    #expect(URL(string: urlA)?.path == URL(string: urlB)?.path)
                    let file = try await MediaEndToEndTests.fetch(urlB)
                    #expect(file.status == 200 && file.contentType == "image/png" && file.body == MediaEndToEndTests.png)
                    let viaA = try await MediaEndToEndTests.fetch(urlA.replacingOccurrences(of: ":\(portA)/", with: ":\(portB)/"))
                    #expect(viaA.status == 200 && viaA.body == MediaEndToEndTests.png)
                    // A wrong token is refused by either.
                    let name = try #require(URL(string: urlB)?.lastPathComponent)
                    let forged = "http://127.0.0.1:\(portB)/media/\(String(repeating: "0", count: 64))/\(name)"
                    #expect(try await MediaEndToEndTests.fetch(forged).status == 404)
                    // Nothing went to the nodes' own data directories.
                    for daemon in [a, b] {
                        let own = (daemon.configuration.dataDirectory as NSString).appendingPathComponent("media/blobs")
                        #expect(!FileManager.default.fileExists(atPath: own))
                    }
                }
            }
            if setup == "shared directory" {
                let blobs = try FileManager.default.subpathsOfDirectory(atPath: shared.path + "/blobs")
                #expect(blobs.contains { $0.contains("/") })
            }
        }
    }

    /// Runs `body` with the configuration change that puts two nodes' media together: one fresh database, or two
    /// SQLite nodes with `shared` as their media directory.
    static func withStorage(_ setup: String, shared: TemporaryDirectory,
                            _ body: (@escaping @Sendable (inout MynahConfiguration) -> Void) async throws -> Void)
        async throws {
        if setup == "postgres" {
            try await TestPostgres.withFreshDatabase { settings, _ in
                try await body { $0.storage = StorageSection(postgres: settings) }
            }
        } else {
            let path = shared.path
            try await body { $0.storage = StorageSection(mediaDirectory: path) }
        }
    }
}
