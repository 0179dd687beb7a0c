/// An uploaded file checked against its kind: an image's format and size, a voice file's format, a file's name.
///
/// Creating one is where `type=image|voice|file` is enforced; `MediaStore.save` then stores it.
package struct MediaUpload: Sendable {
    /// The most bytes one file may have: 8 MB, as in JMessage.
    package static let maxBytes = 8 * 1024 * 1024

    /// What was uploaded.
    package var kind: MediaKind
    /// The file's bytes.
    package var content: ArraySlice<UInt8>
    /// `png`, `jpg`, `gif` for images; the audio format for voice; nil for files.
    package var format: String?
    /// Pixel size of an image.
    package var width: Int?
    /// Pixel height of an image.
    package var height: Int?
    /// The file's name without directories, for `type=file`.
    package var fname: String?
    /// The Content-Type the download is served with.
    package var contentType: String

    /// Checks `content` as a `kind`; throws naming the reason when it does not fit.
    package init(kind: MediaKind, content: ArraySlice<UInt8>, filename: String?) throws(MediaError) {
        guard !content.isEmpty else { throw MediaError("the file is empty") }
        guard content.count <= Self.maxBytes else {
            throw MediaError("the file is \(content.count) bytes; at most \(Self.maxBytes) (8 MB) are allowed")
        }
        self.kind = kind
        self.content = content
        switch kind {
        case .image:
            let info = try ImageInfo.read(content)
            format = info.format.rawValue
            width = info.width
            height = info.height
            contentType = switch info.format {
            case .png: "image/png"
            case .jpg: "image/jpeg"
            case .gif: "image/gif"
            }
        case .voice:
            let detected = try AudioFormat.detect(content, filename: filename)
            format = detected
            contentType = AudioFormat.contentTypes[detected] ?? "application/octet-stream"
        case .file:
            fname = try Self.baseName(filename)
            // Never the client's type: a file is served as a download, not rendered by a browser.
            contentType = "application/octet-stream"
        }
    }

    /// The file name without any directory a client sent (old browsers send `C:\path\name`).
    static func baseName(_ filename: String?) throws(MediaError) -> String {
        guard let filename else {
            throw MediaError("type=file needs a file name: the part's Content-Disposition has no filename")
        }
        let base = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        guard !base.isEmpty, base != ".", base != ".." else {
            throw MediaError("the file name '\(filename)' is empty or not a file name")
        }
        guard base.utf8.count <= 255 else { throw MediaError("the file name is longer than 255 bytes") }
        guard !base.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw MediaError("the file name contains control characters")
        }
        return base
    }
}
