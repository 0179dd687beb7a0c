import Foundation
import Hub
import Server
import Yams

/// The `console:` section of `bots.yaml`: whether `/console` and `/chat` are served and who may sign in to the
/// console as an operator (all apps) besides an app's own AppKey and master secret (that app only).
public struct ConsoleSection: Sendable, Equatable {
    /// Whether the daemon serves `/console` and `/chat` (`enabled:`, default true).
    public var enabled = true
    /// The operators (`operators:`), each with a bcrypt hash of its password.
    public var operators: [ConsoleOperator] = []
    /// How long a console session lasts without use (`session_ttl:`, default 8h).
    public var sessionTTL: Duration = .seconds(8 * 3600)

    /// Creates the section with its defaults.
    public init(enabled: Bool = true, operators: [ConsoleOperator] = [], sessionTTL: Duration = .seconds(8 * 3600)) {
        self.enabled = enabled
        self.operators = operators
        self.sessionTTL = sessionTTL
    }
}

extension ConfigurationReader {
    /// The keys of the console's mappings.
    enum ConsoleKeys {
        static let section = ["enabled", "operators", "session_ttl"]
        static let `operator` = ["name", "password_hash"]
    }

    /// Reads `console:`; absent or empty means enabled with no operators.
    func console(_ field: Field?) throws(ConfigurationError) -> ConsoleSection {
        var result = ConsoleSection()
        guard let field, let section = try optionalSection(field, keys: ConsoleKeys.section) else { return result }
        if let f = section["enabled"], let enabled = try boolean(f) { result.enabled = enabled }
        if let f = section["session_ttl"], let ttl = try duration(f) {
            guard ttl >= .seconds(60), ttl <= .seconds(30 * 86400) else {
                throw error("expected a duration from 1m to 30d", at: f)
            }
            result.sessionTTL = ttl
        }
        guard let listField = section["operators"], let items = try optionalSequence(listField) else { return result }
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let entry = try self.section(item, keys: ConsoleKeys.operator)
            let (name, nameField) = try requiredString(entry, "name")
            guard (1...64).contains(name.count), name.unicodeScalars.allSatisfy(Self.isOperatorNameCharacter) else {
                throw error("expected 1 to 64 of the characters A-Z a-z 0-9 _ . @ -, got \(quoted(name))", at: nameField)
            }
            if let previous = seen[name] {
                throw error("duplicate operator \(quoted(name)); \(listField.path)[\(previous)] already has it", at: nameField)
            }
            seen[name] = index
            let (hash, hashField) = try requiredString(entry, "password_hash")
            guard ConsoleOperator.isBcryptHash(hash) else {
                throw error("expected a bcrypt hash ($2b$10$ followed by 53 characters; docs/console.md shows how to make one)",
                            at: hashField)
            }
            result.operators.append(ConsoleOperator(name: name, passwordHash: hash))
        }
        return result
    }

    static func isOperatorNameCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", "_", ".", "@", "-": true
        default: false
        }
    }
}

extension ConsoleSection {
    /// A bcrypt hash for `console: operators: password_hash:` (`mynah hash-password`).
    public static func hashPassword(_ password: String, cost: UInt8 = 10) -> String {
        Hub.bcryptHash(password, cost: cost)
    }
}
