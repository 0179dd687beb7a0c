import Foundation
import HTTPTypes
import HummingbirdTesting
import IMProtocol
import Server
import Testing

/// POST and GET /v1/resource and the /media download: shapes, checks, ownership, limits, restarts.
@Suite struct MediaAPITests {
    static let mediaIDPattern = #"^qiniu/(image|voice|file)/j/[0-9A-F]{32}(\.[a-z0-9]{1,10})?$"#

    static func matchesMediaID(_ text: String?) -> Bool {
        text?.range(of: mediaIDPattern, options: .regularExpression) != nil
    }

    // MARK: Upload shapes

    @Test("image upload: exactly media_id, media_crc32, width, height, format, fsize", arguments: [
        ("png", TestImages.png(width: 31, height: 17), 31, 17),
        ("jpg", TestImages.jpeg(width: 640, height: 480), 640, 480),
        ("gif", TestImages.gif(width: 5, height: 3), 5, 3),
    ])
    func imageUpload(format: String, bytes: [UInt8], width: Int, height: Int) async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let json = try await server.uploadOK("image", bytes, filename: "picture.\(format)")
                #expect(json.sortedKeys == ["format", "fsize", "height", "media_crc32", "media_id", "width"])
                #expect(json["format"] == .string(format))
                #expect(json["width"]?.intValue == Int64(width))
                #expect(json["height"]?.intValue == Int64(height))
                #expect(json["fsize"]?.intValue == Int64(bytes.count))
                #expect(json["media_crc32"]?.intValue == Int64(CRC32.checksum(bytes)))
                let id = json["media_id"]?.stringValue
                #expect(Self.matchesMediaID(id), "\(id ?? "nil")")
                #expect(id?.hasPrefix("qiniu/image/j/") == true)
                #expect(id?.hasSuffix(".\(format)") == true)
            }
        }
    }

    @Test("the image format is the content's, not the file name's")
    func imageFormatFromContent() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let json = try await server.uploadOK("image", TestImages.gif(width: 2, height: 2), filename: "lies.png")
                #expect(json["format"] == "gif")
                #expect(json["media_id"]?.stringValue?.hasSuffix(".gif") == true)
            }
        }
    }

    @Test("file upload: exactly media_id, media_crc32, fname, fsize, hash (SHA-256 hex)")
    func fileUpload() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let json = try await server.uploadOK("file", Array("abc".utf8), filename: "Report 2024.PDF")
                #expect(json.sortedKeys == ["fname", "fsize", "hash", "media_crc32", "media_id"])
                #expect(json["fname"] == "Report 2024.PDF")
                #expect(json["fsize"] == 3)
                // zlib.crc32(b"abc") and hashlib.sha256(b"abc").hexdigest()
                #expect(json["media_crc32"] == .int(0x3524_41C2))
                #expect(json["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
                #expect(json["media_id"]?.stringValue?.hasPrefix("qiniu/file/j/") == true)
                #expect(json["media_id"]?.stringValue?.hasSuffix(".pdf") == true)
                #expect(Self.matchesMediaID(json["media_id"]?.stringValue))
            }
        }
    }

    @Test("voice upload: exactly media_id, media_crc32, hash, format, fsize; format sniffed or from the extension",
          arguments: [
              (TestAudio.mp3, "a.bin", "mp3"), (TestAudio.amr, "voice", "amr"), (TestAudio.wav, "x.mp3", "wav"),
              ([UInt8](repeating: 0x42, count: 64), "note.m4a", "m4a"),
          ])
    func voiceUpload(bytes: [UInt8], filename: String, format: String) async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let json = try await server.uploadOK("voice", bytes, filename: filename)
                #expect(json.sortedKeys == ["format", "fsize", "hash", "media_crc32", "media_id"])
                #expect(json["format"] == .string(format))
                #expect(json["fsize"]?.intValue == Int64(bytes.count))
                #expect(json["media_crc32"]?.intValue == Int64(CRC32.checksum(bytes)))
                #expect(json["hash"]?.stringValue?.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil)
                #expect(json["media_id"]?.stringValue?.hasPrefix("qiniu/voice/j/") == true)
                #expect(json["media_id"]?.stringValue?.hasSuffix(".\(format)") == true)
            }
        }
    }

    @Test("the same content uploaded again by the same app gets the same media id; another app gets its own")
    func sameContent() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let png = TestImages.png(width: 3, height: 3)
                let first = try await server.uploadOK("image", png)
                let again = try await server.uploadOK("image", png)
                let other = try await server.uploadOK("image", png, as: .other)
                #expect(first == again)
                #expect(first["media_id"] != other["media_id"])
                #expect(first["media_crc32"] == other["media_crc32"])
                // A file under another name is another media id.
                let a = try await server.uploadOK("file", png, filename: "a.png")
                let b = try await server.uploadOK("file", png, filename: "b.png")
                #expect(a["media_id"] != b["media_id"])
                #expect(a["hash"] == b["hash"])
            }
        }
    }

    // MARK: Download

    @Test("GET /v1/resource gives a URL on the request's host; downloading it gives the same bytes and headers",
          arguments: [
              ("image", TestImages.png(width: 40, height: 30), "pic.png", "image/png"),
              ("image", TestImages.jpeg(width: 9, height: 9), "pic.jpg", "image/jpeg"),
              ("voice", TestAudio.amr, "v.amr", "audio/amr"),
              ("file", Array("<html><script>alert(1)</script></html>".utf8), "page.html", "application/octet-stream"),
          ])
    func download(type: String, bytes: [UInt8], filename: String, contentType: String) async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let mediaID = try #require(try await server.uploadOK(type, bytes, filename: filename)["media_id"]?.stringValue)
                let url = try await server.url(of: mediaID)
                // The router test client sends `localhost` as the host.
                #expect(url.range(of: #"^http://localhost/media/[0-9a-f]{64}/[0-9A-F]{32}(\.[a-z0-9]+)?$"#,
                                  options: .regularExpression) != nil, "\(url)")
                #expect(url.hasSuffix("/" + String(mediaID.split(separator: "/").last!)))
                #expect(try await server.url(of: mediaID) == url)

                let file = try await server.download(url)
                #expect(file.status == .ok)
                #expect(file.body == bytes)
                #expect(file.headers[.contentType] == contentType)
                #expect(file.headers[.contentLength] == String(bytes.count))
                #expect(file.headers[.xContentTypeOptions] == "nosniff")
                if type == "file" {
                    #expect(file.headers[.contentDisposition]?.hasPrefix("attachment;") == true)
                }
            }
        }
    }

    @Test("a large file (exactly 8 MB) is accepted and downloads intact")
    func exactlyEightMegabytes() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let bytes = (0..<(8 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 11)) }
                let json = try await server.uploadOK("file", bytes, filename: "big.bin")
                #expect(json["fsize"]?.intValue == Int64(bytes.count))
                #expect(json["media_crc32"]?.intValue == Int64(CRC32.checksum(bytes)))
                let url = try await server.url(of: try #require(json["media_id"]?.stringValue))
                let file = try await server.download(url)
                #expect(file.status == .ok)
                #expect(file.body.count == bytes.count)
                #expect(file.body == bytes)
            }
        }
    }

    // MARK: Authentication and ownership

    @Test("both /v1/resource calls need the app's Basic auth: 899007, 899008, 899009")
    func authentication() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let png = TestImages.png(width: 2, height: 2)
                let id = try #require(try await server.uploadOK("image", png)["media_id"]?.stringValue)
                let cases: [(Credentials, Int)] = [
                    (.none, 899007), (.app(Apps.appKey, "wrong-secret"), 899008),
                    (.app("000000000000000000000000", Apps.masterSecret), 899009),
                    (.header("Bearer abc"), 899008),
                ]
                for (credentials, code) in cases {
                    expectError(try await server.upload("image", [.file(png)], as: credentials).reply,
                                status: .unauthorized, code: code)
                    expectError(try await server.send(.get, "/v1/resource?mediaId=\(id)", as: credentials).reply,
                                status: .unauthorized, code: code)
                }
            }
        }
    }

    @Test("another app cannot get a URL for an app's media, and hears the same as for an unknown id")
    func otherAppsMedia() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let id = try #require(try await server.uploadOK("image", TestImages.gif(width: 1, height: 1))["media_id"]?
                    .stringValue)
                let foreign = try await server.send(.get, "/v1/resource?mediaId=\(id)", as: .other)
                expectError(foreign.reply, status: .badRequest, code: 899003,
                            message: "mediaId: no media '\(id)' in app \(Apps.otherAppKey)")
                let unknown = "qiniu/image/j/00000000000000000000000000000000.gif"
                let missing = try await server.send(.get, "/v1/resource?mediaId=\(unknown)", as: .other)
                expectError(missing.reply, status: .badRequest, code: 899003,
                            message: "mediaId: no media '\(unknown)' in app \(Apps.otherAppKey)")
                // The owner still gets its URL.
                _ = try await server.url(of: id)
            }
        }
    }

    // MARK: Refusals

    @Test("an 8 MB + 1 byte file is refused with 899003 naming the limit")
    func oversizeFile() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let bytes = [UInt8](repeating: 7, count: 8 * 1024 * 1024 + 1)
                let reply = try await server.upload("file", [.file(bytes, filename: "big.bin")])
                expectError(reply.reply, status: .badRequest, code: 899003,
                            message: "filename: the file is 8388609 bytes; at most 8388608 (8 MB) are allowed")
            }
        }
    }

    @Test("a request body over the cap is refused with 899003 before it is parsed")
    func oversizeBody() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let bytes = [UInt8](repeating: 7, count: 9 * 1024 * 1024)
                let reply = try await server.upload("file", [.file(bytes, filename: "big.bin")])
                expectError(reply.reply, status: .badRequest, code: 899003, messagePrefix: "body: larger than")
                #expect(reply.text.contains("8388608 bytes (8 MB)"))
            }
        }
    }

    @Test("an oversize body over a real socket is refused and the connection still serves the next request")
    func oversizeBodyLive() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir, .live) { server in
                let bytes = [UInt8](repeating: 7, count: 9 * 1024 * 1024)
                let reply = try await server.upload("file", [.file(bytes, filename: "big.bin")])
                expectError(reply.reply, status: .badRequest, code: 899003, messagePrefix: "body: larger than")
                let ok = try await server.uploadOK("image", TestImages.png(width: 5, height: 5))
                let file = try await server.download(try await server.url(of: try #require(ok["media_id"]?.stringValue)))
                #expect(file.body == TestImages.png(width: 5, height: 5))
            }
        }
    }

    static let png = TestImages.png(width: 4, height: 4)
    static let boundary = Multipart.boundary

    @Test("bad requests are 400 899003 naming the problem, never 500", arguments: [
        ("/v1/resource", Multipart.contentType, Multipart.body([.file(png)]), "type: required; one of image, voice, file"),
        ("/v1/resource?type=video", Multipart.contentType, Multipart.body([.file(png)]),
         "type: must be image, voice or file, got 'video'"),
        ("/v1/resource?type=image", nil, Multipart.body([.file(png)]),
         "Content-Type: missing; expected multipart/form-data with a boundary"),
        ("/v1/resource?type=image", "image/png", png, "Content-Type: expected multipart/form-data, got 'image/png'"),
        ("/v1/resource?type=image", "multipart/form-data", Multipart.body([.file(png)]),
         "Content-Type: multipart/form-data without a boundary parameter"),
        ("/v1/resource?type=image", Multipart.contentType, Array(Multipart.body([.file(png)]).dropLast(20)),
         "multipart body: missing closing boundary '--\(boundary)--' (truncated?)"),
        ("/v1/resource?type=image", Multipart.contentType, [], "multipart body: no boundary '--\(boundary)' found"),
        ("/v1/resource?type=image", Multipart.contentType,
         Multipart.body([FormPart(name: "file", filename: "a.png", contentType: "image/png", content: png),
                         FormPart(name: "note", content: Array("hi".utf8))]),
         "filename: the form has no field 'filename' (it has 'file', 'note')"),
        ("/v1/resource?type=image", Multipart.contentType, Multipart.body([.file(png), .file(png)]),
         "filename: 2 files in one request; send one"),
        ("/v1/resource?type=image", Multipart.contentType, Multipart.body([.file(Array("not an image".utf8))]),
         "filename: not a PNG, JPEG or GIF image"),
        ("/v1/resource?type=image", Multipart.contentType, Multipart.body([.file(Array(png.prefix(50)))]),
         "filename: PNG image truncated in chunk 'IDAT' at byte 33"),
        ("/v1/resource?type=image", Multipart.contentType, Multipart.body([.file([])]), "filename: the file is empty"),
        ("/v1/resource?type=file", Multipart.contentType, Multipart.body([.file(png, filename: nil)]),
         "filename: type=file needs a file name: the part's Content-Disposition has no filename"),
        ("/v1/resource?type=voice", Multipart.contentType, Multipart.body([.file(Array("hello".utf8), filename: "a.txt")]),
         "filename: not a recognized voice file; expected one of aac, amr, flac, m4a, mp3, ogg, opus, silk, wav "
             + "(by content or file extension)"),
    ] as [(String, String?, [UInt8], String)])
    func badUploads(uri: String, contentType: String?, body: [UInt8], message: String) async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                var headers: HTTPFields = [:]
                if let contentType { headers[.contentType] = contentType }
                let reply = try await server.send(.post, uri, headers: headers, body: body)
                expectError(reply.reply, status: .badRequest, code: 899003, message: message)
            }
        }
    }

    @Test("GET /v1/resource with a missing or malformed mediaId is 400 899003", arguments: [
        ("/v1/resource", "mediaId: required"),
        ("/v1/resource?mediaId=", "mediaId: required"),
        ("/v1/resource?mediaId=abc", "mediaId: 'abc' is not a media id of this server "
            + "(expected qiniu/<image|voice|file>/j/<32 hex digits>[.<ext>])"),
    ])
    func badMediaID(uri: String, message: String) async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                expectError(try await server.send(.get, uri).reply, status: .badRequest, code: 899003, message: message)
            }
        }
    }

    @Test("path traversal through mediaId or the download path reaches nothing")
    func pathTraversal() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let json = try await server.uploadOK("image", TestImages.png(width: 2, height: 2))
                let url = try await server.url(of: try #require(json["media_id"]?.stringValue))
                let path = try #require(URL(string: url)?.path)
                let token = path.split(separator: "/")[1]
                let name = path.split(separator: "/")[2]
                let hex = name.prefix(32)
                // A secret next to the media directory that must never be served.
                try Data("secret".utf8).write(to: URL(fileURLWithPath: dir + "/secret.txt"))

                for id in ["../../secret.txt", "qiniu/image/j/../../../secret.txt", "qiniu%2Fimage%2Fj%2F..%2F..%2Fsecret.txt",
                           "qiniu/image/j/\(hex).png/../../../../secret.txt", "..%2F..%2Fhub.sqlite",
                           "qiniu/image/j/%2E%2E%2F%2E%2E%2Fhmac.key", "/etc/passwd"] {
                    let reply = try await server.send(.get, "/v1/resource?mediaId=\(id)")
                    expectError(reply.reply, status: .badRequest, code: 899003, messageContains: "not a media id")
                }
                for bad in ["/media/\(token)/..%2F..%2Fsecret.txt", "/media/\(token)/%2E%2E%2Fhmac.key",
                            "/media/\(token)/..", "/media/../secret.txt", "/media/\(token)/../../secret.txt",
                            "/media/\(token)/\(hex).json", "/media/\(token)/\(hex).png%00.json",
                            "/media/\(token)/\(hex)", "/media/\(token)/\(hex).gif",
                            "/media/\(String(repeating: "0", count: 64))/\(name)", "/media/\(token.uppercased())/\(name)",
                            "/media/\(token)/\(name.lowercased())", "/media/hmac.key/\(name)", "/media/x/y"] {
                    let reply = try await server.send(.get, bad, as: .none)
                    #expect(reply.status == .notFound, "\(bad): \(reply)")
                    #expect(!reply.text.contains("secret"), "\(bad)")
                    #expect(reply.body != TestImages.png(width: 2, height: 2), "\(bad)")
                }
                let unknown = try await server.send(.get, "/media/\(token)/00000000000000000000000000000000.png", as: .none)
                expectError(unknown.reply, status: .notFound, code: 899003, message: "no such media")
                #expect(try await server.download(url).status == .ok)
            }
        }
    }

    @Test("a token is bound to its media: one media's token does not open another's")
    func tokenIsPerMedia() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir) { server in
                let a = try await server.url(of: try #require(try await server.uploadOK(
                    "image", TestImages.png(width: 2, height: 2))["media_id"]?.stringValue))
                let b = try await server.url(of: try #require(try await server.uploadOK(
                    "image", TestImages.png(width: 3, height: 3), as: .main)["media_id"]?.stringValue))
                let tokenA = a.split(separator: "/")[3]
                let nameB = b.split(separator: "/")[4]
                let mixed = try await server.send(.get, "/media/\(tokenA)/\(nameB)", as: .none)
                #expect(mixed.status == .notFound)
                #expect(try await server.download(b).status == .ok)
            }
        }
    }

    // MARK: Durability and configuration

    @Test("after a restart (a new server on the same directory) the media, its id and its URL still work")
    func restart() async throws {
        try await withTemporaryDirectory { dir in
            let png = TestImages.png(width: 12, height: 7)
            let (id, url) = try await withMediaServer(in: dir) { server in
                let id = try #require(try await server.uploadOK("image", png)["media_id"]?.stringValue)
                return (id, try await server.url(of: id))
            }
            try await withMediaServer(in: dir) { server in
                #expect(try await server.url(of: id) == url)
                let file = try await server.download(url)
                #expect(file.status == .ok)
                #expect(file.body == png)
                #expect(try await server.uploadOK("image", png)["media_id"]?.stringValue == id)
                expectError(try await server.send(.get, "/v1/resource?mediaId=\(id)", as: .other).reply,
                            status: .badRequest, code: 899003)
            }
            // The media lives in the directory it was given, the key beside it.
            #expect(FileManager.default.fileExists(atPath: dir + "/media/hmac.key"))
        }
    }

    @Test("a server without a media directory answers the media endpoints with a clear error")
    func notConfigured() async throws {
        try await withTemporaryDirectory { dir in
            try await withMediaServer(in: dir, media: false) { server in
                let upload = try await server.upload("image", [.file(TestImages.png(width: 1, height: 1))])
                expectError(upload.reply, status: .notImplemented, code: 899000,
                            message: "media storage is not configured on this server (no media directory)")
                let get = try await server.send(.get, "/v1/resource?mediaId=qiniu/image/j/00000000000000000000000000000000.png")
                expectError(get.reply, status: .notImplemented, code: 899000)
                // Authentication still comes first.
                expectError(try await server.upload("image", [], as: .none).reply, status: .unauthorized, code: 899007)
            }
        }
    }
}
