/// Expands environment references in configuration values: `${VAR}`, `${VAR:-default}` and `$$`.
///
/// A `$` followed by anything else is kept as it is. Defaults are taken literally (no nesting).
enum EnvironmentInterpolation {
    /// Why a value could not be expanded; the message names variables, never their values.
    struct Failure: Error, Equatable {
        var message: String
    }

    /// Returns `text` with every reference replaced by its value from `environment`.
    static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        let scalars = text.unicodeScalars
        var result = String.UnicodeScalarView()
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let next = scalars.index(after: index)
            guard scalar == "$", next < scalars.endIndex else {
                result.append(scalar)
                index = next
                continue
            }
            switch scalars[next] {
            case "$":
                result.append("$")
                index = scalars.index(after: next)
            case "{":
                let bodyStart = scalars.index(after: next)
                guard let close = scalars[bodyStart...].firstIndex(of: "}") else {
                    throw Failure(message: "unterminated '${' (expected ${NAME} or ${NAME:-default})")
                }
                let body = String(scalars[bodyStart..<close])
                result.append(contentsOf: try value(of: body, environment: environment).unicodeScalars)
                index = scalars.index(after: close)
            default:
                result.append(scalar)
                index = next
            }
        }
        return String(result)
    }

    /// The replacement for the inside of one `${...}`.
    private static func value(of body: String, environment: [String: String]) throws(Failure) -> String {
        let name: Substring
        let fallback: Substring?
        if let separator = body.firstRange(of: ":-") {
            name = body[..<separator.lowerBound]
            fallback = body[separator.upperBound...]
        } else {
            name = body[...]
            fallback = nil
        }
        guard isVariableName(name) else {
            throw Failure(
                message: "invalid environment reference '${\(body)}' (expected ${NAME} or ${NAME:-default},"
                    + " NAME made of letters, digits and '_')"
            )
        }
        let value = environment[String(name)]
        if let fallback {
            if let value, !value.isEmpty { return value }
            return String(fallback)
        }
        guard let value else {
            throw Failure(message: "environment variable '\(name)' is not set")
        }
        return value
    }

    /// Whether `name` is `[A-Za-z_][A-Za-z0-9_]*`.
    private static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || YAMLCharacters.isASCIILetter(first) else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || YAMLCharacters.isASCIILetter($0) || YAMLCharacters.isASCIIDigit($0)
        }
    }
}
