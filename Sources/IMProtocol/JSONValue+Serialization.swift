import Foundation

extension JSONValue {
    /// Parses JSON text (UTF-8); the error says where the text is malformed. Like Foundation's decoder it
    /// tolerates a trailing comma in arrays and objects (see `JSONParser` for the exact rules).
    public static func parse(_ data: some Collection<UInt8>) throws(ProtocolError) -> JSONValue {
        func run(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONParser.Failure> {
            do {
                return .success(try JSONParser.parse(bytes))
            } catch {
                return .failure(error)
            }
        }
        let result = data.withContiguousStorageIfAvailable(run) ?? Array(data).withUnsafeBufferPointer(run)
        switch result {
        case .success(let value):
            return value
        case .failure(let failure):
            throw ProtocolError(path: "", reason: "malformed JSON: \(failure.reason) at byte \(failure.offset)")
        }
    }

    /// Parses JSON text given as a string.
    public static func parse(_ string: String) throws(ProtocolError) -> JSONValue {
        try parse(Array(string.utf8))
    }

    /// Serializes to compact JSON text; object keys are sorted so equal values give equal bytes.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(into: &out)
        return out
    }

    /// Serializes to compact JSON as a `String`.
    public func serializedString() -> String {
        String(decoding: serialized(), as: UTF8.self)
    }

    /// Appends the compact JSON text of this value to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): Self.writeInt(i, into: &out)
        case .double(let d):
            if d.isFinite {
                if d.rounded() == d && abs(d) <= 9_007_199_254_740_992 {
                    out.append(contentsOf: String(Int64(d)).utf8)
                } else {
                    out.append(contentsOf: "\(d)".utf8)
                }
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `i` in decimal without making a `String` of it first (one allocation per number otherwise).
    static func writeInt(_ i: Int64, into out: inout [UInt8]) {
        if i == Int64.min {
            out.append(contentsOf: "-9223372036854775808".utf8)
            return
        }
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var v = i.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 19 digits of any Int64
        withUnsafeMutableBytes(of: &digits) { buffer in
            var n = 0
            repeat {
                buffer[23 - n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            } while v > 0
            out.append(contentsOf: buffer[(24 - n)...])
        }
    }

    /// Appends `s` as a JSON string. Text without a byte to escape (almost all of it) is copied in one piece: the
    /// byte-by-byte loop was the message serializer's largest cost in the writer's profile.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
