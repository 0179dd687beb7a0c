import Foundation

/// The format and pixel size of a PNG, JPEG or GIF image, read from the file's own structure.
///
/// Besides the header, the whole block structure is walked (PNG chunks with their CRCs up to `IEND`, JPEG segments
/// and scan data up to `EOI`, GIF blocks up to the trailer), so a truncated upload is refused rather than stored.
package struct ImageInfo: Sendable, Equatable {
    /// The image formats JMessage accepts for `type=image`; the raw value is the wire's `format`.
    package enum Format: String, Sendable {
        case png, jpg, gif
    }

    /// The format.
    package var format: Format
    /// Width in pixels.
    package var width: Int
    /// Height in pixels.
    package var height: Int

    /// Creates an image description.
    package init(format: Format, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }

    /// Reads `bytes` as an image; throws naming the reason when it is none of PNG, JPEG, GIF or is damaged.
    package static func read(_ bytes: ArraySlice<UInt8>) throws(MediaError) -> ImageInfo {
        let b = Bytes(bytes)
        if b.matches([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], at: 0) { return try png(b) }
        if b.matches([0xFF, 0xD8], at: 0) { return try jpeg(b) }
        if b.matches(Array("GIF87a".utf8), at: 0) || b.matches(Array("GIF89a".utf8), at: 0) { return try gif(b) }
        throw MediaError("not a PNG, JPEG or GIF image")
    }

    // MARK: PNG

    static func png(_ b: Bytes) throws(MediaError) -> ImageInfo {
        var p = 8
        var size: (width: Int, height: Int)?
        var sawData = false
        while true {
            guard p < b.count else { throw MediaError("PNG image truncated: no IEND chunk") }
            guard let length = b.be32(p), let typeBytes = b.slice(p + 4, 4) else {
                throw MediaError("PNG image truncated in a chunk header at byte \(p)")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= 0x7FFF_FFFF, let data = b.slice(p + 8, Int(length)), let stored = b.be32(p + 8 + Int(length))
            else {
                throw MediaError("PNG image truncated in chunk '\(type)' at byte \(p)")
            }
            var crc = CRC32()
            crc.update(typeBytes)
            crc.update(data)
            guard crc.value == stored else {
                throw MediaError("PNG image corrupt: chunk '\(type)' at byte \(p) fails its CRC")
            }
            if size == nil {
                guard type == "IHDR", length == 13, let w = b.be32(p + 8), let h = b.be32(p + 12) else {
                    throw MediaError("PNG image corrupt: the first chunk is not a 13-byte IHDR")
                }
                guard w > 0, h > 0, w <= 0x7FFF_FFFF, h <= 0x7FFF_FFFF else {
                    throw MediaError("PNG image corrupt: width and height must be 1 to 2^31-1, got \(w)x\(h)")
                }
                size = (Int(w), Int(h))
            }
            if type == "IDAT" { sawData = true }
            p += 12 + Int(length)
            if type == "IEND" { break }
        }
        guard sawData, let size else { throw MediaError("PNG image corrupt: no IDAT chunk") }
        return ImageInfo(format: .png, width: size.width, height: size.height)
    }

    // MARK: JPEG

    static func jpeg(_ b: Bytes) throws(MediaError) -> ImageInfo {
        var p = 2
        var size: (width: Int, height: Int)?
        while true {
            guard let first = b.byte(p) else { throw MediaError("JPEG image truncated: no EOI marker") }
            guard first == 0xFF else {
                throw MediaError("JPEG image corrupt: expected a marker at byte \(p), got 0x\(hex(first))")
            }
            while b.byte(p) == 0xFF { p += 1 }  // fill bytes before a marker
            guard let marker = b.byte(p) else { throw MediaError("JPEG image truncated: no EOI marker") }
            let markerAt = p - 1
            p += 1
            switch marker {
            case 0xD9:
                guard let size else { throw MediaError("JPEG image corrupt: EOI before any frame header (SOFn)") }
                return ImageInfo(format: .jpg, width: size.width, height: size.height)
            case 0x01, 0xD0...0xD7:
                continue  // TEM and RSTn stand alone
            case 0x00, 0xD8:
                throw MediaError("JPEG image corrupt: unexpected marker 0xFF\(hex(marker)) at byte \(markerAt)")
            default:
                break
            }
            guard let length = b.be16(p) else { throw MediaError("JPEG image truncated in segment 0xFF\(hex(marker))") }
            guard length >= 2 else {
                throw MediaError("JPEG image corrupt: segment 0xFF\(hex(marker)) at byte \(markerAt) has length \(length)")
            }
            guard b.slice(p, Int(length)) != nil else {
                throw MediaError("JPEG image truncated in segment 0xFF\(hex(marker)) at byte \(markerAt)")
            }
            // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame size.
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker), size == nil {
                guard length >= 8, let height = b.be16(p + 3), let width = b.be16(p + 5) else {
                    throw MediaError("JPEG image corrupt: frame header at byte \(markerAt) is too short")
                }
                guard width > 0 else { throw MediaError("JPEG image corrupt: frame width is 0") }
                guard height > 0 else {
                    throw MediaError("JPEG image not supported: the height is given later by a DNL marker")
                }
                size = (Int(width), Int(height))
            }
            p += Int(length)
            if marker == 0xDA {
                guard size != nil else { throw MediaError("JPEG image corrupt: scan (SOS) before any frame header") }
                p = try skipScanData(b, from: p)
            }
        }
    }

    /// The position of the first marker after entropy-coded data (`FF00` is a stuffed byte, `FFD0`..`FFD7` restarts).
    static func skipScanData(_ b: Bytes, from start: Int) throws(MediaError) -> Int {
        var p = start
        while true {
            guard let ff = b.firstIndex(of: 0xFF, from: p), let next = b.byte(ff + 1) else {
                throw MediaError("JPEG image truncated in the scan data: no EOI marker")
            }
            switch next {
            case 0x00, 0xD0...0xD7: p = ff + 2
            case 0xFF: p = ff + 1
            default: return ff
            }
        }
    }

    // MARK: GIF

    static func gif(_ b: Bytes) throws(MediaError) -> ImageInfo {
        guard let width = b.le16(6), let height = b.le16(8), let flags = b.byte(10), b.byte(12) != nil else {
            throw MediaError("GIF image truncated in the logical screen descriptor")
        }
        guard width > 0, height > 0 else {
            throw MediaError("GIF image corrupt: logical screen is \(width)x\(height)")
        }
        var p = 13 + colorTableSize(flags)
        var images = 0
        while true {
            guard let block = b.byte(p) else { throw MediaError("GIF image truncated: no trailer (0x3B)") }
            switch block {
            case 0x3B:
                guard images > 0 else { throw MediaError("GIF image corrupt: no image data") }
                return ImageInfo(format: .gif, width: Int(width), height: Int(height))
            case 0x21:
                guard b.byte(p + 1) != nil else { throw MediaError("GIF image truncated in an extension") }
                p = try skipSubBlocks(b, from: p + 2)
            case 0x2C:
                guard let localFlags = b.byte(p + 9) else { throw MediaError("GIF image truncated in an image descriptor") }
                p += 10 + colorTableSize(localFlags)
                guard let codeSize = b.byte(p) else { throw MediaError("GIF image truncated before the image data") }
                guard (1...11).contains(codeSize) else {
                    throw MediaError("GIF image corrupt: LZW minimum code size \(codeSize) at byte \(p)")
                }
                p = try skipSubBlocks(b, from: p + 1)
                images += 1
            default:
                throw MediaError("GIF image corrupt: unexpected block 0x\(hex(block)) at byte \(p)")
            }
        }
    }

    static func colorTableSize(_ flags: UInt8) -> Int {
        flags & 0x80 != 0 ? 3 << (Int(flags & 0x07) + 1) : 0
    }

    static func skipSubBlocks(_ b: Bytes, from start: Int) throws(MediaError) -> Int {
        var p = start
        while true {
            guard let size = b.byte(p) else { throw MediaError("GIF image truncated in a data sub-block") }
            p += 1 + Int(size)
            if size == 0 { return p }
            guard p <= b.count else { throw MediaError("GIF image truncated in a data sub-block") }
        }
    }
}

private func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

/// Bounds-checked reads at offsets from the start of a slice; nil past the end.
struct Bytes {
    let data: ArraySlice<UInt8>

    init(_ data: ArraySlice<UInt8>) {
        self.data = data
    }

    var count: Int { data.count }

    func byte(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < data.count ? data[data.startIndex + offset] : nil
    }

    func slice(_ offset: Int, _ length: Int) -> ArraySlice<UInt8>? {
        guard offset >= 0, length >= 0, offset <= data.count, length <= data.count - offset else { return nil }
        return data[(data.startIndex + offset)..<(data.startIndex + offset + length)]
    }

    func matches(_ prefix: [UInt8], at offset: Int) -> Bool {
        slice(offset, prefix.count)?.elementsEqual(prefix) ?? false
    }

    func be16(_ offset: Int) -> UInt16? {
        guard let s = slice(offset, 2) else { return nil }
        return UInt16(s[s.startIndex]) << 8 | UInt16(s[s.startIndex + 1])
    }

    func le16(_ offset: Int) -> UInt16? {
        guard let s = slice(offset, 2) else { return nil }
        return UInt16(s[s.startIndex + 1]) << 8 | UInt16(s[s.startIndex])
    }

    func be32(_ offset: Int) -> UInt32? {
        guard let s = slice(offset, 4) else { return nil }
        return s.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The offset of the next `value` at or after `offset`.
    func firstIndex(of value: UInt8, from offset: Int) -> Int? {
        guard offset >= 0, offset < data.count else { return nil }
        return data.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress,
                  let hit = memchr(base + offset, Int32(value), buffer.count - offset) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }
}
