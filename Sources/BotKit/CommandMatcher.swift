import Synchronization
import IMProtocol

/// Who a message mentions: `@name` words of a text body and the strings of its extras' `mentions` list.
public enum Mentions {
    /// The mentioned usernames, in order of appearance, each once.
    public static func of(_ body: MessageBody) -> [String] {
        var names: [String] = []
        if let text = body.text {
            var rest = Substring(text)
            while let at = rest.firstIndex(of: "@") {
                let before = at == rest.startIndex ? nil : rest[rest.index(before: at)]
                rest = rest[rest.index(after: at)...]
                guard before == nil || before!.isWhitespace else { continue }
                var name = rest.prefix { isNameCharacter($0) }
                while let last = name.last, last == "." || last == "-" { name = name.dropLast() }
                if !name.isEmpty { names.append(String(name)) }
                rest = rest.dropFirst(name.count)
            }
        }
        if case .text(let t) = body, case .array(let items)? = t.extras?["mentions"] {
            names += items.compactMap(\.stringValue)
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "@" || c == "-")
    }
}

/// Finds the command a message invokes, checks the sender's access and parses the arguments, all from the
/// plugins' declarations.
struct CommandMatcher {
    /// What a message turned out to be.
    enum Match: Equatable {
        /// Not a declared command.
        case none
        /// A declared command that parsed and that the sender may run.
        case command(ParsedCommand)
        /// A declared command the sender may not run, or that did not parse: the bot answers this.
        case refused(String)
    }

    var prefix: String
    var botUsername: String

    func match(_ message: IncomingMessage, table: [String: DeclaredCommand], roles: RoleTable) -> Match {
        guard let full = message.text else { return .none }
        var text = Substring(full)
        text = text.drop(while: \.isWhitespace)
        // "@bot /cmd" in a group: the leading mention of the bot is not part of the command.
        let mention = "@" + botUsername
        if text.hasPrefix(mention) {
            text = text.dropFirst(mention.count).drop(while: \.isWhitespace)
        }
        guard !prefix.isEmpty, text.hasPrefix(prefix) else { return .none }
        text = text.dropFirst(prefix.count)
        let nameEnd = text.firstIndex(where: \.isWhitespace) ?? text.endIndex
        let name = String(text[..<nameEnd])
        guard let declared = table[name] else { return .none }
        let spec = declared.spec
        guard roles.allows(spec.roles, username: message.sender, appKey: message.senderAppKey ?? "") else {
            let needed = spec.roles.joined(separator: " or ")
            return .refused("\(prefix)\(name): permission denied (needs the role \(needed))")
        }
        switch spec.parse(arguments: text[nameEnd...]) {
        case .success(let arguments):
            return .command(ParsedCommand(name: name, arguments: arguments, plugin: declared.plugin))
        case .failure(let error):
            return .refused("\(prefix)\(name): \(error.message)\nusage: \(spec.usage(prefix: prefix))")
        }
    }
}

/// Durable plugin data kept in memory only: for bots that need no persistence and for plugin authors' tests.
public final class MemoryPluginStorage: PluginStorage {
    private let data = Mutex<[String: JSONValue]>([:])
    private let ticks = Mutex<[String: TickClaim]>([:])

    /// An empty store.
    public init() {}

    private func key(_ bot: String, _ plugin: String, _ key: String) -> String { "\(bot)\u{0}\(plugin)\u{0}\(key)" }

    /// The value under `key`.
    public func value(bot: String, plugin: String, key: String) async throws -> JSONValue? {
        data.withLock { $0[self.key(bot, plugin, key)] }
    }

    /// Stores or (with `.null`) deletes.
    public func setValue(_ value: JSONValue, bot: String, plugin: String, key: String) async throws {
        data.withLock { $0[self.key(bot, plugin, key)] = value == .null ? nil : value }
    }

    /// The entries under `prefix`, ordered by key.
    public func entries(bot: String, plugin: String, prefix: String) async throws -> [(key: String, value: JSONValue)] {
        let start = self.key(bot, plugin, "")
        return data.withLock { d in
            d.filter { $0.key.hasPrefix(start + prefix) }
                .map { (key: String($0.key.dropFirst(start.count)), value: $0.value) }
                .sorted { $0.key < $1.key }
        }
    }

    /// The entries under `prefix` before `bound`: in one process every claim is this storage's own, and a
    /// storage may always claim its own entries again (as on SQLite and PostgreSQL).
    public func claim(bot: String, plugin: String, prefix: String, before bound: String, now: Int64, until: Int64)
        async throws -> [(key: String, value: JSONValue)] {
        try await entries(bot: bot, plugin: plugin, prefix: prefix).filter {
            $0.key.unicodeScalars.lexicographicallyPrecedes(bound.unicodeScalars)
        }
    }

    /// The last claimed tick of `schedule`.
    public func lastTick(bot: String, plugin: String, schedule: String) async throws -> TickClaim? {
        ticks.withLock { $0[self.key(bot, plugin, schedule)] }
    }

    /// Claims the tick due at `due` when the last one is earlier (or stale); one process, so no other node.
    public func claimTick(bot: String, plugin: String, schedule: String, due: Int64, now: Int64, until: Int64,
                          takeOver: Bool) async throws -> Bool {
        ticks.withLock { t in
            let k = self.key(bot, plugin, schedule)
            if let last = t[k], last.due >= due, !(last.due == due && !last.done),
               last.due <= now + TickClaim.staleAfter { return false }
            t[k] = TickClaim(due: due, done: false)
            return true
        }
    }

    /// Marks the tick handled.
    public func finishTick(bot: String, plugin: String, schedule: String, due: Int64) async throws {
        ticks.withLock { t in
            let k = self.key(bot, plugin, schedule)
            if t[k]?.due == due { t[k]?.done = true }
        }
    }
}
