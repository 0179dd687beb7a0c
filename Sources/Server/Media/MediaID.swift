/// What an upload is, as `POST /v1/resource?type=` names it.
package enum MediaKind: String, Sendable, Codable, CaseIterable {
    case image, voice, file
}

/// A media id in JMessage's style: `qiniu/<kind>/j/<32 upper-case hex digits>[.<ext>]`.
///
/// Only ids of exactly this shape are accepted, so the hex part and extension are safe as file names; the hex
/// digits are derived from the AppKey and the content (see `MediaStore`).
package struct MediaID: Sendable, Hashable, CustomStringConvertible {
    /// The kind in the id.
    package var kind: MediaKind
    /// 32 upper-case hex digits.
    package var hex: String
    /// A lower-case extension of 1 to 10 letters and digits, or nil.
    package var ext: String?

    /// Creates an id from its parts; nil when `hex` or `ext` break the shape.
    package init?(kind: MediaKind, hex: String, ext: String?) {
        guard Self.isHex(hex), ext.map(Self.isExtension) ?? true else { return nil }
        self.kind = kind
        self.hex = hex
        self.ext = ext
    }

    /// Parses `qiniu/<kind>/j/<hex>[.<ext>]`; nil for anything else (path traversal included).
    package init?(_ text: String) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 4, pieces[0] == "qiniu", pieces[2] == "j",
              let kind = MediaKind(rawValue: String(pieces[1])),
              let (hex, ext) = Self.splitFileName(String(pieces[3]))
        else { return nil }
        self.init(kind: kind, hex: hex, ext: ext)
    }

    /// The last path component: `<hex>[.<ext>]`, the name the download URL ends with.
    package var fileName: String { ext.map { "\(hex).\($0)" } ?? hex }

    /// The id as it goes on the wire.
    package var description: String { "qiniu/\(kind.rawValue)/j/\(fileName)" }

    /// Splits `<hex>[.<ext>]` checking both parts; nil when the shape is wrong.
    package static func splitFileName(_ name: String) -> (hex: String, ext: String?)? {
        let pieces = name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let hex = String(pieces[0])
        guard isHex(hex) else { return nil }
        guard pieces.count == 2 else { return (hex, nil) }
        let ext = String(pieces[1])
        return isExtension(ext) ? (hex, ext) : nil
    }

    /// The lower-cased extension of a file name when it is 1 to 10 ASCII letters and digits.
    package static func fileExtension(_ filename: String) -> String? {
        let base = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? filename
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return nil }
        let ext = base[base.index(after: dot)...].lowercased()
        return isExtension(ext) ? ext : nil
    }

    static func isHex(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }
    }

    static func isExtension(_ text: String) -> Bool {
        (1...10).contains(text.utf8.count)
            && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }
}
