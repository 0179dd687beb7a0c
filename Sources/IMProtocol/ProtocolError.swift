/// A field of a protocol object that is missing or malformed, named by its JSON path.
///
/// The description reads like `msg_body.text: required`, so a client knows exactly what to fix;
/// over HTTP it maps to JMessage error 899003.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path of the offending field, e.g. `msg_body.text` (empty for the document itself).
    public var path: String
    /// What is wrong with it, e.g. `required` or `expected a string`.
    public var reason: String

    /// Creates an error for the field at `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `path: reason`, or just the reason for the document itself.
    public var description: String {
        path.isEmpty ? reason : "\(path): \(reason)"
    }
}
