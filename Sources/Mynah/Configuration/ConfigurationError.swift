import Foundation

/// A problem with the configuration file, located as precisely as possible.
///
/// Its `description` reads like a compiler diagnostic, `bots.yaml:12:5: bots[0].username: missing required key`,
/// and never contains a secret from the file. When the file has several problems this is the first of them and
/// ``additional`` holds the others, in file order; `description` then has one line per problem.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is; `nil` only when the file cannot be read at all.
    public var location: SourceLocation?
    /// The dotted path of the offending value, such as `bots[0].plugins[1].swift`; empty for the whole document.
    public var path: String
    /// What is wrong, such as `expected an integer, got 'abc'`.
    public var message: String
    /// The file's other problems after this one, in file order (`mynah check` reports them all).
    public var additional: [ConfigurationError] = []

    /// Creates an error.
    public init(location: SourceLocation?, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    /// This problem and the additional ones, in file order.
    public var all: [ConfigurationError] {
        var first = self
        first.additional = []
        return [first] + additional.flatMap(\.all)
    }

    /// The error as `file:line:column: path: message`, leaving out the parts that are unknown or empty; one line
    /// per problem when there are several.
    public var description: String {
        all.map { error in
            var text = ""
            if let location = error.location { text += "\(location): " }
            if !error.path.isEmpty { text += "\(error.path): " }
            return text + error.message
        }.joined(separator: "\n")
    }

    /// One error holding `errors` (at least one) in file order: the earliest, with the others as ``additional``.
    public static func combining(_ errors: [ConfigurationError]) -> ConfigurationError? {
        let sorted = errors.flatMap(\.all).enumerated().sorted { a, b in
            let x = a.element.location, y = b.element.location
            let kx = (x?.line ?? Int.max, x?.column ?? Int.max), ky = (y?.line ?? Int.max, y?.column ?? Int.max)
            return kx != ky ? kx < ky : a.offset < b.offset
        }.map(\.element)
        guard var first = sorted.first else { return nil }
        first.additional = Array(sorted.dropFirst())
        return first
    }
}

extension ConfigurationError: LocalizedError {
    /// The same text as `description`, so that `localizedDescription` is useful too.
    public var errorDescription: String? { description }
}
