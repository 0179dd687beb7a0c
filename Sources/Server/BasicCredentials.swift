import ExtrasBase64

/// The `user:password` pair of an `Authorization: Basic base64(user:password)` header (RFC 7617): the one reader of
/// it, for the REST API (`appKey:masterSecret`) and the push API alike.
struct BasicCredentials: Sendable, Equatable {
    /// What is before the first colon: the AppKey.
    var user: String
    /// Everything after the first colon (it may hold colons): the master secret.
    var password: String

    /// Why a header gives no credentials.
    enum Failure: Error, Equatable {
        /// There is no `Authorization` header.
        case missing
        /// It is not `Basic` with base64 of UTF-8 `user:password`.
        case malformed
    }

    /// Reads the credentials of an `Authorization` header's value (`nil` when the header is absent).
    ///
    /// On the header's UTF-8 bytes with swift-extras-base64: Foundation's `lowercased`, `trimmingCharacters` (through
    /// NSString) and `Data(base64Encoded:)` took 5 % of the daemon's CPU on `/v3/push/validate` (BENCHMARKS.md).
    static func parse(_ header: String?) -> Result<BasicCredentials, Failure> {
        guard let header else { return .failure(.missing) }
        let bytes = Array(header.utf8)
        // The scheme, case-insensitively, then the token after the first space, without surrounding blanks.
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")), space == 5,
              zip(bytes[..<space], "basic".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return .failure(.malformed) }
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var token = bytes[(space + 1)...]
        while let first = token.first, isBlank(first) { token.removeFirst() }
        while let last = token.last, isBlank(last) { token.removeLast() }
        guard !token.isEmpty, let decoded = try? Base64.decode(bytes: token),
              let text = String(validating: decoded, as: UTF8.self),
              let colon = text.firstIndex(of: ":")
        else { return .failure(.malformed) }
        return .success(BasicCredentials(user: String(text[..<colon]), password: String(text[text.index(after: colon)...])))
    }
}
