import IMProtocol

/// A command a plugin declares once: its name, its arguments, its help line and who may run it.
///
/// The bot parses invocations, checks access and writes help text from this one declaration.
/// ```swift
/// CommandSpec(name: "remind", arguments: [.init(name: "when"), .init(name: "text", kind: .rest)],
///             help: "Remind this conversation later", roles: ["staff"])
/// ```
public struct CommandSpec: Sendable, Hashable {
    /// One argument of a command.
    public struct Argument: Sendable, Hashable {
        /// How an argument is read from the words of the invocation.
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            /// One word (quotes group words).
            case word
            /// One word that must be an integer.
            case integer
            /// The rest of the text, as written; only last.
            case rest
        }

        /// The argument's name, used in usage text and as the key of the parsed arguments.
        public var name: String
        /// How it is read.
        public var kind: Kind
        /// Whether it may be left out; only trailing arguments may be.
        public var optional: Bool

        /// Creates an argument.
        public init(name: String, kind: Kind = .word, optional: Bool = false) {
            self.name = name
            self.kind = kind
            self.optional = optional
        }
    }

    /// The command's name, without the prefix.
    public var name: String
    /// The arguments, in order.
    public var arguments: [Argument]
    /// One line saying what the command does.
    public var help: String
    /// The roles that may run it (granted in `bots.yaml`); empty means everyone.
    public var roles: [String]

    /// Creates a command declaration.
    public init(name: String, arguments: [Argument] = [], help: String, roles: [String] = []) {
        self.name = name
        self.arguments = arguments
        self.help = help
        self.roles = roles
    }

    /// The usage line: `/remind <when> <text...>`, optional arguments in brackets.
    public func usage(prefix: String) -> String {
        var parts = [prefix + name]
        for argument in arguments {
            let shown = argument.kind == .rest ? "\(argument.name)..." : argument.name
            parts.append(argument.optional ? "[\(shown)]" : "<\(shown)>")
        }
        return parts.joined(separator: " ")
    }

    /// Reads the invocation's text after the name into named arguments, or says what is wrong.
    public func parse(arguments text: Substring) -> Result<[String: JSONValue], CommandError> {
        var remaining = text.drop(while: \.isWhitespace)
        var values: [String: JSONValue] = [:]
        for argument in arguments {
            if remaining.isEmpty {
                if argument.optional { continue }
                return .failure(CommandError("missing argument <\(argument.name)>"))
            }
            switch argument.kind {
            case .rest:
                values[argument.name] = .string(String(remaining).trimmingTrailingWhitespace())
                remaining = ""
            case .word, .integer:
                guard let (word, rest) = Self.nextWord(remaining) else {
                    return .failure(CommandError("unterminated quote in <\(argument.name)>"))
                }
                remaining = rest.drop(while: \.isWhitespace)
                if argument.kind == .integer {
                    guard let number = Int64(word) else {
                        return .failure(CommandError("<\(argument.name)> must be an integer, got '\(word)'"))
                    }
                    values[argument.name] = .int(number)
                } else {
                    values[argument.name] = .string(word)
                }
            }
        }
        guard remaining.isEmpty else {
            return .failure(CommandError("unexpected '\(remaining.prefix(40))'"))
        }
        return .success(values)
    }

    /// The next word of `text` (which starts at a non-space), honouring double and single quotes.
    static func nextWord(_ text: Substring) -> (String, Substring)? {
        guard let first = text.first else { return nil }
        if first == "\"" || first == "'" {
            let body = text.dropFirst()
            guard let close = body.firstIndex(of: first) else { return nil }
            return (String(body[..<close]), body[body.index(after: close)...])
        }
        let end = text.firstIndex(where: \.isWhitespace) ?? text.endIndex
        return (String(text[..<end]), text[end...])
    }
}

/// Why an invocation did not parse; the bot answers with it and the usage line.
public struct CommandError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, such as `missing argument <when>`.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// A command invocation that parsed against its declaration.
public struct ParsedCommand: Sendable, Hashable {
    /// The command's name.
    public var name: String
    /// The arguments by name: strings, or integers for `integer` arguments; optional ones left out are absent.
    public var arguments: [String: JSONValue]
    /// The plugin that declared the command (its id in the bot).
    public var plugin: String

    /// Creates a parsed command.
    public init(name: String, arguments: [String: JSONValue], plugin: String) {
        self.name = name
        self.arguments = arguments
        self.plugin = plugin
    }

    /// The string value of an argument.
    public func string(_ name: String) -> String? { arguments[name]?.stringValue }
}

/// A command with the plugin that declared it, as the bot's command table holds it.
public struct DeclaredCommand: Sendable, Hashable {
    /// The declaring plugin's id.
    public var plugin: String
    /// The declaration.
    public var spec: CommandSpec

    /// Creates an entry.
    public init(plugin: String, spec: CommandSpec) {
        self.plugin = plugin
        self.spec = spec
    }
}

/// Who holds which role, from a bot's `roles:`; a user is `username` (the bot's AppKey) or `appkey/username`.
public struct RoleTable: Sendable, Hashable {
    /// Role name to the members, each as `appkey/username`.
    public var members: [String: Set<String>]

    /// Creates a table; members without an AppKey belong to `appKey`.
    public init(_ roles: [String: [String]] = [:], appKey: String = "") {
        members = roles.mapValues { users in
            Set(users.map { $0.contains("/") ? $0 : "\(appKey)/\($0)" })
        }
    }

    /// Whether the user may run a command needing `roles` (empty means everyone).
    public func allows(_ roles: [String], username: String, appKey: String) -> Bool {
        if roles.isEmpty { return true }
        let user = "\(appKey)/\(username)"
        return roles.contains { members[$0]?.contains(user) == true }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
