/// CRC-32 as zlib computes it (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF).
///
/// JMessage reports it as `media_crc32`; PNG uses the same checksum for its chunks.
package struct CRC32: Sendable {
    /// The checksum of the bytes fed so far.
    package private(set) var value: UInt32 = 0

    /// Starts an empty checksum (value 0, as `zlib.crc32(b"")`).
    package init() {}

    /// The checksum of `bytes` in one go.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    /// Feeds more bytes; the result equals the checksum of all bytes fed, in order.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        var crc = ~value
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            for byte in buffer {
                crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        if done == nil {
            for byte in bytes {
                crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        value = ~crc
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1
        }
        return c
    }
}
