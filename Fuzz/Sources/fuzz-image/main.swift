// The image sniffer (ImageInfo.read: PNG chunks and CRCs, JPEG segments, GIF blocks). An input is read as it is,
// from a slice that does not start at index 0, and (for PNG) with every chunk CRC made right so that the fuzzer gets
// past the checksums; all readings of the same bytes must agree, and a readable image has a positive size.
import FuzzSupport
import Media

/// `bytes` with each PNG chunk's CRC recomputed, as far as the chunk structure goes.
func fixingPNGChecksums(_ bytes: [UInt8]) -> [UInt8] {
    var out = bytes
    var p = 8
    while p + 12 <= out.count {
        let length = Int(out[p]) << 24 | Int(out[p + 1]) << 16 | Int(out[p + 2]) << 8 | Int(out[p + 3])
        guard length <= out.count - p - 12 else { break }
        var crc = CRC32()
        crc.update(out[(p + 4)..<(p + 8 + length)])
        let value = crc.value
        for i in 0..<4 { out[p + 8 + length + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(i))) }
        p += 12 + length
    }
    return out
}

func read(_ bytes: ArraySlice<UInt8>) -> Result<ImageInfo, MediaError> {
    Result { () throws(MediaError) in try ImageInfo.read(bytes) }
}

fuzzMain { raw in
    var inputs = [Array(raw)]
    if raw.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { inputs.append(fixingPNGChecksums(inputs[0])) }
    for bytes in inputs {
        let result = read(bytes[...])
        let shifted = read(([0x00, 0x01, 0x02] + bytes)[3...])
        check(result == shifted, "reading from a shifted slice differs: \(result) vs \(shifted)")
        if case .success(let info) = result {
            check(info.width > 0 && info.height > 0, "an image of \(info.width)x\(info.height)")
        }
    }
}
