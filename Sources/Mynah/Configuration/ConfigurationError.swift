import Foundation

/// A problem with the configuration file, located as precisely as possible.
///
/// Its `description` reads like a compiler diagnostic, `bots.yaml:12:5: bots[0].username: missing required key`,
/// and never contains a secret from the file.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is; `nil` only when the file cannot be read at all.
    public var location: SourceLocation?
    /// The dotted path of the offending value, such as `bots[0].plugins[1].swift`; empty for the whole document.
    public var path: String
    /// What is wrong, such as `expected an integer, got 'abc'`.
    public var message: String

    /// Creates an error.
    public init(location: SourceLocation?, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    /// The error as `file:line:column: path: message`, leaving out the parts that are unknown or empty.
    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        if !path.isEmpty { text += "\(path): " }
        return text + message
    }
}

extension ConfigurationError: LocalizedError {
    /// The same text as `description`, so that `localizedDescription` is useful too.
    public var errorDescription: String? { description }
}
