import Foundation

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
    static func parse(_ header: String?) -> Result<BasicCredentials, Failure> {
        guard let header else { return .failure(.missing) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8),
              let colon = text.firstIndex(of: ":")
        else { return .failure(.malformed) }
        return .success(BasicCredentials(user: String(text[..<colon]), password: String(text[text.index(after: colon)...])))
    }
}
