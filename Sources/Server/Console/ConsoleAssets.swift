import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The console's and the chat's static files (HTML, CSS, JavaScript modules), read once into memory.
///
/// They live in `Sources/Server/Console/Static`, which Package.swift copies into the build as the Server target's
/// resource bundle (`resources: [.copy("Console/Static")]`). They are found without `Bundle.module`, whose Linux
/// accessor stops the process when the bundle is not where the build left it: first the bundle next to the
/// executable (`mynah_Server.resources/Static`, where `swift build` puts it), then the source folder itself
/// (`#filePath`), so a binary run from a clone works too. Without either, the pages answer 503 and nothing crashes.
struct ConsoleAssets: Sendable {
    struct File: Sendable {
        var bytes: ByteBuffer
        var contentType: String
    }

    let files: [String: File]
    let directory: String?

    init(directory: String? = ConsoleAssets.findDirectory()) {
        self.directory = directory
        var files: [String: File] = [:]
        if let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names {
                guard let type = Self.contentType(of: name),
                      let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name))
                else { continue }
                files[name] = File(bytes: ByteBuffer(bytes: data), contentType: type)
            }
        }
        self.files = files
    }

    static func findDirectory() -> String? {
        var candidates: [String] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(executable.deletingLastPathComponent()
                .appendingPathComponent("mynah_Server.resources").appendingPathComponent("Static").path)
        }
        candidates.append(((#filePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("Static"))
        return candidates.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("console.html")) }
    }

    static func contentType(of name: String) -> String? {
        switch (name as NSString).pathExtension {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        default: nil
        }
    }

    /// The file `name` with the console's security headers, or 404.
    func response(_ name: String) -> Response {
        guard let file = files[name] else {
            if files.isEmpty {
                return Response(status: .serviceUnavailable, headers: ConsoleHeaders.page(contentType: "text/plain; charset=utf-8"),
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "console files not found\n")))
            }
            return Response(status: .notFound, headers: ConsoleHeaders.page(contentType: "text/plain; charset=utf-8"),
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        return Response(status: .ok, headers: ConsoleHeaders.page(contentType: file.contentType),
                        body: ResponseBody(byteBuffer: file.bytes))
    }
}

/// The headers of every console and chat answer.
enum ConsoleHeaders {
    /// No inline script or style, nothing from another origin, no framing; `blob:` and `data:` images for previews.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static func page(contentType: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        fields[.xContentTypeOptions] = "nosniff"
        fields[.cacheControl] = "no-store"
        fields[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        fields[HTTPField.Name("X-Frame-Options")!] = "DENY"
        fields[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        return fields
    }
}
