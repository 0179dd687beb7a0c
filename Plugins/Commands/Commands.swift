import BotKit

/// `/help` for a bot, generated from the commands every plugin of the bot declares, and an answer to
/// commands nobody declared.
///
/// ```yaml
/// plugins:
///   - swift: commands
///     config: { unknown: true }
/// ```
public struct Commands: Plugin {
    /// `swift: commands` in `bots.yaml`.
    public static let pluginName = "commands"
    /// Whether `/nosuch` gets an answer (`unknown:`, default true).
    public var answersUnknown: Bool

    /// Reads `unknown` (optional boolean).
    public init(configuration: JSONValue) throws(ProtocolError) {
        guard case .object(let o) = configuration else {
            throw ProtocolError(path: "", reason: "expected a mapping, got \(configuration.typeName)")
        }
        for key in o.keys where key != "unknown" {
            throw ProtocolError(path: key, reason: "unknown key; commands takes only 'unknown'")
        }
        switch o["unknown"] {
        case .none, .some(.null): answersUnknown = true
        case .some(.bool(let b)): answersUnknown = b
        case .some(let v): throw ProtocolError(path: "unknown", reason: "expected a boolean, got \(v.typeName)")
        }
    }

    /// `help [command]`.
    public var commands: [CommandSpec] {
        [CommandSpec(name: "help", arguments: [.init(name: "command", optional: true)],
                     help: "List the commands you may run, or explain one")]
    }

    /// Answers `help`, and (when configured) commands that no plugin declares.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        guard case .message(let m) = event else { return [] }
        let prefix = context.bot.commandPrefix
        guard let command = m.command else {
            guard answersUnknown, let text = m.text, let name = Self.attemptedCommand(text, prefix: prefix,
                                                                                 bot: context.bot.username)
            else { return [] }
            return [.reply(.text("unknown command \(prefix)\(name); try \(prefix)help"))]
        }
        guard command.name == "help" else { return [] }
        return [.reply(.text(Self.help(for: command.string("command"), message: m, context: context)))]
    }

    /// The help text: every command the sender may run with its usage and help line, or one command in detail.
    public static func help(for name: String?, message: IncomingMessage, context: PluginContext) -> String {
        let prefix = context.bot.commandPrefix
        let appKey = message.senderAppKey ?? context.bot.appKey
        if let name {
            let bare = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
            guard let entry = context.commands.first(where: { $0.spec.name == bare }) else {
                return "unknown command \(prefix)\(bare); try \(prefix)help"
            }
            var lines = [entry.spec.usage(prefix: prefix), entry.spec.help]
            if !entry.spec.roles.isEmpty {
                lines.append("needs the role \(entry.spec.roles.joined(separator: " or "))")
            }
            return lines.filter { !$0.isEmpty }.joined(separator: "\n")
        }
        let allowed = context.commands.filter {
            context.roles.allows($0.spec.roles, username: message.sender, appKey: appKey)
        }
        let lines = allowed.map { entry in
            entry.spec.help.isEmpty ? entry.spec.usage(prefix: prefix)
                : "\(entry.spec.usage(prefix: prefix)) - \(entry.spec.help)"
        }
        return (["Commands:"] + lines).joined(separator: "\n")
    }

    /// The name after the prefix when `text` looks like a command (`/word`), else `nil`.
    static func attemptedCommand(_ text: String, prefix: String, bot: String) -> String? {
        var rest = Substring(text).drop(while: \.isWhitespace)
        if rest.hasPrefix("@" + bot) { rest = rest.dropFirst(bot.count + 1).drop(while: \.isWhitespace) }
        guard !prefix.isEmpty, rest.hasPrefix(prefix) else { return nil }
        let name = rest.dropFirst(prefix.count).prefix { !$0.isWhitespace }
        guard let first = name.first, first.isLetter else { return nil }
        return String(name)
    }
}
