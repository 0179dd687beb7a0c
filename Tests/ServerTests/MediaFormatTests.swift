import Foundation
import Server
import Testing

/// CRC-32, image headers, audio sniffing and media ids: the pieces the upload is built from, on their own.
@Suite struct MediaFormatTests {
    // MARK: CRC-32

    @Test("CRC-32 equals zlib.crc32 on the standard check values")
    func crcCheckValues() {
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(CRC32.checksum(Array("abc".utf8)) == 0x3524_41C2)
    }

    @Test("CRC-32 of 1 MB equals zlib's, fed at once or in pieces")
    func crcLarge() {
        // python3 -c "import zlib; print(hex(zlib.crc32(bytes(((i*31+7)&0xFF) for i in range(1000000)))))"
        let bytes = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }
        #expect(CRC32.checksum(bytes) == 0xD3A0_9EDA)
        var crc = CRC32()
        for start in stride(from: 0, to: bytes.count, by: 77_777) {
            crc.update(bytes[start..<min(bytes.count, start + 77_777)])
        }
        #expect(crc.value == 0xD3A0_9EDA)
    }

    // MARK: PNG

    @Test("PNG: width and height from IHDR", arguments: [(1, 1), (3, 2), (300, 200), (17, 1)])
    func pngSize(width: Int, height: Int) throws {
        let info = try ImageInfo.read(TestImages.png(width: width, height: height)[...])
        #expect(info == ImageInfo(format: .png, width: width, height: height))
    }

    @Test("PNG cut short anywhere is refused as truncated")
    func pngTruncated() {
        let png = TestImages.png(width: 4, height: 4)
        for length in [9, 16, 20, 30, 33, 40, png.count - 12, png.count - 1] {
            #expect(throws: MediaError.self, "\(length) bytes") { try ImageInfo.read(png[0..<length]) }
            let error = try? #require(throws: MediaError.self) { try ImageInfo.read(png[0..<length]) }
            #expect(error?.description.contains("truncated") == true, "\(length): \(String(describing: error))")
        }
    }

    @Test("PNG with a damaged chunk fails its CRC")
    func pngCorrupt() throws {
        var png = TestImages.png(width: 4, height: 4)
        png[18] ^= 0x01  // a byte of IHDR's width
        let error = try #require(throws: MediaError.self) { try ImageInfo.read(png[...]) }
        #expect(error.description == "PNG image corrupt: chunk 'IHDR' at byte 8 fails its CRC")
    }

    @Test("PNG without IDAT, or whose first chunk is not IHDR, is refused")
    func pngStructure() throws {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let ihdr = TestImages.chunk("IHDR", TestImages.be32(2) + TestImages.be32(2) + [8, 2, 0, 0, 0])
        let noData = signature + ihdr + TestImages.chunk("IEND", [])
        #expect(throws: MediaError("PNG image corrupt: no IDAT chunk")) { try ImageInfo.read(noData[...]) }
        let textFirst = signature + TestImages.chunk("tEXt", Array("a\0b".utf8)) + ihdr + TestImages.chunk("IEND", [])
        #expect(throws: MediaError("PNG image corrupt: the first chunk is not a 13-byte IHDR")) {
            try ImageInfo.read(textFirst[...])
        }
    }

    // MARK: JPEG

    @Test("JPEG: width and height from the frame header", arguments: [(8, 8), (16, 8), (17, 9), (640, 480), (1, 1000)])
    func jpegSize(width: Int, height: Int) throws {
        let info = try ImageInfo.read(TestImages.jpeg(width: width, height: height)[...])
        #expect(info == ImageInfo(format: .jpg, width: width, height: height))
    }

    @Test("JPEG: progressive (SOF2) and lossless (SOF3) frames are read too", arguments: [UInt8(0xC1), 0xC2, 0xC3, 0xC9, 0xCF])
    func jpegOtherFrames(marker: UInt8) throws {
        let info = try ImageInfo.read(TestImages.jpeg(width: 33, height: 21, frameMarker: marker)[...])
        #expect(info == ImageInfo(format: .jpg, width: 33, height: 21))
    }

    @Test("JPEG: DHT, DAC and JPG segments before the frame are not frames; fill bytes are skipped")
    func jpegNotFrames() throws {
        // A DHT (C4), DAC (CC) and JPG (C8) segment whose bytes would read as a 257x257 frame, then fill bytes.
        let fake: [UInt8] = [0x08, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00]
        let before = [0xFF, 0xC4, 0x00, 0x09] + fake + [0xFF, 0xCC, 0x00, 0x09] + fake + [0xFF, 0xC8, 0x00, 0x09] + fake
            + [0xFF, 0xFF, 0xFF]
        let info = try ImageInfo.read(TestImages.jpeg(width: 40, height: 30, beforeFrame: before)[...])
        #expect(info == ImageInfo(format: .jpg, width: 40, height: 30))
    }

    @Test("JPEG: stuffed bytes, restart markers and a second scan in the entropy-coded data")
    func jpegScanData() throws {
        var jpeg = TestImages.jpeg(width: 8, height: 8)
        #expect(Array(jpeg.suffix(2)) == [0xFF, 0xD9])
        jpeg.removeLast(2)
        // FF00 (a stuffed FF), RST0, more data, a second SOS segment with its own data, then EOI.
        jpeg += [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD7, 0x78]
        jpeg += [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x00, 0xFF, 0x00, 0x9A]
        jpeg += [0xFF, 0xD9]
        #expect(try ImageInfo.read(jpeg[...]) == ImageInfo(format: .jpg, width: 8, height: 8))
    }

    @Test("JPEG cut short anywhere is refused as truncated")
    func jpegTruncated() {
        let jpeg = TestImages.jpeg(width: 24, height: 24)
        for length in [2, 3, 5, 21, 100, 160, jpeg.count - 2, jpeg.count - 1] {
            let error = try? #require(throws: MediaError.self, "\(length) bytes") { try ImageInfo.read(jpeg[0..<length]) }
            #expect(error?.description.contains("truncated") == true, "\(length): \(String(describing: error))")
        }
    }

    @Test("JPEG without a frame, with height 0 (DNL) or with garbage between segments is refused")
    func jpegBroken() {
        #expect(throws: MediaError("JPEG image corrupt: EOI before any frame header (SOFn)")) {
            try ImageInfo.read([0xFF, 0xD8, 0xFF, 0xD9][...])
        }
        #expect(throws: MediaError("JPEG image not supported: the height is given later by a DNL marker")) {
            try ImageInfo.read(TestImages.jpeg(width: 8, height: 0)[...])
        }
        #expect(throws: MediaError("JPEG image corrupt: expected a marker at byte 2, got 0x41")) {
            try ImageInfo.read([0xFF, 0xD8, 0x41, 0x42][...])
        }
        #expect(throws: MediaError("JPEG image corrupt: scan (SOS) before any frame header")) {
            try ImageInfo.read([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9][...])
        }
    }

    // MARK: GIF

    @Test("GIF: width and height from the logical screen", arguments: [(1, 1), (5, 3), (120, 7)])
    func gifSize(width: Int, height: Int) throws {
        let info = try ImageInfo.read(TestImages.gif(width: width, height: height)[...])
        #expect(info == ImageInfo(format: .gif, width: width, height: height))
    }

    @Test("GIF87a is read too, and a GIF cut short anywhere is refused as truncated")
    func gifTruncated() throws {
        var gif87 = TestImages.gif(width: 6, height: 2)
        gif87.replaceSubrange(0..<6, with: Array("GIF87a".utf8))
        #expect(try ImageInfo.read(gif87[...]) == ImageInfo(format: .gif, width: 6, height: 2))
        let gif = TestImages.gif(width: 6, height: 2)
        for length in [6, 10, 13, 19, 25, 35, gif.count - 2, gif.count - 1] {
            let error = try? #require(throws: MediaError.self, "\(length) bytes") { try ImageInfo.read(gif[0..<length]) }
            #expect(error?.description.contains("truncated") == true, "\(length): \(String(describing: error))")
        }
    }

    @Test("anything else is not an image")
    func notAnImage() {
        for bytes in [Array("hello, world".utf8), Array("BM".utf8) + [UInt8](repeating: 0, count: 60), [0x89, 0x50], []] {
            #expect(throws: MediaError("not a PNG, JPEG or GIF image")) { try ImageInfo.read(bytes[...]) }
        }
    }

    // MARK: Audio

    @Test("voice formats are sniffed from the content")
    func audioSniff() {
        #expect(AudioFormat.sniff(TestAudio.mp3[...]) == "mp3")
        #expect(AudioFormat.sniff([0xFF, 0xFB, 0x90, 0x64, 0, 0][...]) == "mp3")
        #expect(AudioFormat.sniff([0xFF, 0xF1, 0x50, 0x80, 0, 0][...]) == "aac")
        #expect(AudioFormat.sniff(TestAudio.amr[...]) == "amr")
        #expect(AudioFormat.sniff(TestAudio.wav[...]) == "wav")
        #expect(AudioFormat.sniff(([0, 0, 0, 0x20] + Array("ftypM4A ".utf8))[...]) == "m4a")
        #expect(AudioFormat.sniff((Array("OggS".utf8) + [UInt8](repeating: 0, count: 40))[...]) == "ogg")
        #expect(AudioFormat.sniff(Array("plain text".utf8)[...]) == nil)
    }

    @Test("an unsniffable voice file falls back to a known extension, else is refused")
    func audioExtension() throws {
        let opaque = [UInt8](repeating: 0x11, count: 32)[...]
        #expect(try AudioFormat.detect(opaque, filename: "note.AMR") == "amr")
        #expect(try AudioFormat.detect(opaque, filename: "C:\\voice\\note.m4a") == "m4a")
        // The content wins over the name.
        #expect(try AudioFormat.detect(TestAudio.wav[...], filename: "note.mp3") == "wav")
        #expect(throws: MediaError.self) { try AudioFormat.detect(opaque, filename: "note.txt") }
        #expect(throws: MediaError.self) { try AudioFormat.detect(opaque, filename: nil) }
    }

    // MARK: Media ids

    @Test("media ids round-trip in JMessage's shape")
    func mediaIDs() throws {
        let id = try #require(MediaID("qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.png"))
        #expect(id.kind == .image)
        #expect(id.hex == "0123456789ABCDEF0123456789ABCDEF")
        #expect(id.ext == "png")
        #expect(id.fileName == "0123456789ABCDEF0123456789ABCDEF.png")
        #expect(id.description == "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.png")
        #expect(MediaID("qiniu/file/j/0123456789ABCDEF0123456789ABCDEF")?.ext == nil)
    }

    @Test("anything not exactly a media id is refused, traversal included", arguments: [
        "", "qiniu", "../../mynah.sqlite", "qiniu/image/j/../../../hmac.key",
        "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.png/..", "qiniu/image/j/0123456789abcdef0123456789abcdef.png",
        "qiniu/image/j/0123456789ABCDEF0123456789ABCDE.png", "qiniu/video/j/0123456789ABCDEF0123456789ABCDEF.mp4",
        "/qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.png", "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.",
        "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.p/g", "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.PNG",
        "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.png.json", "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.abcdefghijk",
        "qiniu/image//0123456789ABCDEF0123456789ABCDEF.png", "qiniu/image/j/0123456789ABCDEF0123456789ABCDEF.p%2e",
    ])
    func badMediaIDs(_ text: String) {
        #expect(MediaID(text) == nil)
    }

    @Test("uploads are checked against their kind")
    func uploadChecks() throws {
        #expect(throws: MediaError("the file is empty")) { try MediaUpload(kind: .file, content: [], filename: "a") }
        let big = [UInt8](repeating: 0, count: MediaUpload.maxBytes + 1)
        #expect(throws: MediaError("the file is 8388609 bytes; at most 8388608 (8 MB) are allowed")) {
            try MediaUpload(kind: .file, content: big[...], filename: "a")
        }
        #expect(throws: MediaError("type=file needs a file name: the part's Content-Disposition has no filename")) {
            try MediaUpload(kind: .file, content: [1], filename: nil)
        }
        #expect(try MediaUpload(kind: .file, content: [1], filename: "C:\\Users\\me\\report.pdf").fname == "report.pdf")
        #expect(try MediaUpload(kind: .file, content: [1], filename: "../../etc/passwd").fname == "passwd")
        #expect(throws: MediaError.self) { try MediaUpload(kind: .file, content: [1], filename: "dir/..") }
        #expect(throws: MediaError.self) { try MediaUpload(kind: .file, content: [1], filename: "a\nb") }
    }
}
