import BotKit
import Foundation
import IMProtocol
import Yams

// Reading the bot and plugin settings beyond account and plugin name (docs/configuration.md, "bots").
extension ConfigurationReader.Keys {
    static let botOptions = ["listen", "roles", "rate_limit", "command_prefix", "accept_relay_from", "avatar", "hub"]
    static let pluginOptions = ["exec", "webhook", "id", "timeout", "schedules", "env", "restart", "secret", "retries"]
    static let botListen = ["single", "groups", "mention_only", "ignore_robots"]
    static let rateLimit = ["messages", "per"]
    static let hub = ["url", "master_secret", "jmessage"]
    static let restart = ["backoff", "max_backoff", "quarantine_after"]
    static let schedule = ["name", "cron", "time_zone"]
}

extension ConfigurationReader {
    /// Reads a bot's `listen`, `roles`, `rate_limit`, `command_prefix`, `accept_relay_from`, `avatar` and `hub`.
    func botOptions(_ entry: Section) throws(ConfigurationError) -> MynahConfiguration.BotOptions {
        var options = MynahConfiguration.BotOptions()
        if let field = entry["listen"], let listen = try optionalSection(field, keys: Keys.botListen) {
            if let f = listen["single"], let v = try boolean(f) { options.listen.single = v }
            if let f = listen["mention_only"], let v = try boolean(f) { options.listen.mentionOnly = v }
            if let f = listen["ignore_robots"], let v = try boolean(f) { options.listen.ignoreRobots = v }
            if let f = listen["groups"] {
                if case .sequence = f.value {
                    options.listen.groups = .only(Set(try stringList(f)))
                } else if let word = try string(f) {
                    switch word {
                    case "all": options.listen.groups = .all
                    case "none": options.listen.groups = BotKit.Bot.ListenFilter.Groups.none
                    default: throw error("expected all, none or a list of group ids, got \(quoted(word))", at: f)
                    }
                }
            }
        }
        if let field = entry["roles"], try !isNull(field) {
            guard case .mapping(let mapping) = field.value else { throw mismatch(field, expected: "a mapping") }
            for (key, value) in mapping {
                guard case .scalar(let k) = key, !k.string.isEmpty else {
                    throw ConfigurationError(location: location(key.mark), path: field.path, message: "expected a role name")
                }
                let roleField = Field(key: key, value: value, path: Self.member(field.path, k.string))
                options.roles[k.string] = try stringList(roleField)
            }
        }
        if let field = entry["rate_limit"], let limit = try optionalSection(field, keys: Keys.rateLimit) {
            if let f = limit["messages"], let n = try integer(f) {
                guard n >= 1 else { throw error("expected at least 1, got \(n)", at: f) }
                options.rateLimit = n
            }
            if let f = limit["per"], let d = try preciseDuration(f) { options.ratePeriod = d }
        }
        if let field = entry["command_prefix"], let prefix = try string(field) {
            guard !prefix.isEmpty, !prefix.contains(where: \.isWhitespace) else {
                throw error("expected a non-empty prefix without spaces, got \(quoted(prefix))", at: field)
            }
            options.commandPrefix = prefix
        }
        if let field = entry["accept_relay_from"] { options.acceptRelayFrom = try stringList(field) }
        options.avatar = try optionalString(entry, "avatar")
        if let field = entry["hub"], let hub = try optionalSection(field, keys: Keys.hub), hub["jmessage"] != nil {
            options.jmessage = try jmessageHub(hub, bot: entry)
        } else if let field = entry["hub"], let hub = try optionalSection(field, keys: Keys.hub) {
            let (url, urlField) = try requiredString(hub, "url")
            guard let parsed = URL(string: url), ["ws", "wss"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw error("expected a ws:// or wss:// URL of a Mynah gateway, got \(quoted(url))", at: urlField)
            }
            options.hubURL = url
            if let field = hub["master_secret"], let secret = try string(field) {
                try requireNonEmpty(secret, field)
                // The secret travels as Basic authentication: never in clear text beyond this machine.
                guard URL(string: url)?.scheme == "wss" || Daemon.isLoopback(URL(string: url)?.host ?? "") else {
                    throw error("needs a wss:// hub.url (or a loopback host): the secret is sent with every upload",
                                at: field)
                }
                options.hubMasterSecret = secret
            }
        }
        return options
    }

    /// Reads a plugin entry's kind (`exec`, `webhook`) and shared settings (`id`, `timeout`, `schedules`).
    func pluginOptions(_ entry: Section) throws(ConfigurationError) -> MynahConfiguration.PluginOptions {
        var options = MynahConfiguration.PluginOptions()
        let kinds = ["swift", "exec", "webhook"].filter { entry[$0] != nil }
        if kinds.count > 1, let field = entry[kinds[1]] {
            throw ConfigurationError(location: location(field.key?.mark), path: entry.path,
                                     message: "a plugin is one of swift, exec or webhook, not \(kinds.joined(separator: " and "))")
        }
        if let field = entry["id"], let id = try string(field) {
            guard !id.isEmpty, id.unicodeScalars.allSatisfy(Self.isNameCharacter) else {
                throw error("expected one or more of the characters A-Z a-z 0-9 _ -, got \(quoted(id))", at: field)
            }
            options.id = id
        }
        if let field = entry["timeout"], let d = try preciseDuration(field) { options.timeout = d }
        if let field = entry["schedules"], let items = try optionalSequence(field) {
            for item in items {
                let s = try section(item, keys: Keys.schedule)
                let (name, nameField) = try requiredString(s, "name")
                try requireNonEmpty(name, nameField)
                let (expression, cronField) = try requiredString(s, "cron")
                var zone = TimeZone.gmt
                if let f = s["time_zone"], let id = try string(f) {
                    guard let z = TimeZone(identifier: id) else {
                        throw error("unknown time zone \(quoted(id)); expected an IANA name such as Europe/Berlin", at: f)
                    }
                    zone = z
                }
                do {
                    options.schedules.append(.init(name: name, cron: try CronSchedule(expression, timeZone: zone)))
                } catch {
                    throw self.error(error.message, at: cronField)
                }
            }
        }
        let execOnly = ["env", "restart"], webhookOnly = ["secret", "retries"]
        for key in execOnly where entry[key] != nil && entry["exec"] == nil {
            throw error("'\(key)' applies to exec plugins only", at: entry[key]!)
        }
        for key in webhookOnly where entry[key] != nil && entry["webhook"] == nil {
            throw error("'\(key)' applies to webhook plugins only", at: entry[key]!)
        }
        if let field = entry["exec"] {
            var command: [String]
            if case .sequence = field.value {
                command = try stringList(field)
            } else {
                command = (try string(field) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
            }
            guard !command.isEmpty, !command[0].isEmpty else {
                throw error("expected a command line such as 'python3 plugins/weather.py'", at: field)
            }
            var exec = MynahConfiguration.ExecPlugin(command: command)
            if let envField = entry["env"], try !isNull(envField) {
                guard case .mapping(let mapping) = envField.value else { throw mismatch(envField, expected: "a mapping") }
                for (key, value) in mapping {
                    guard case .scalar(let k) = key else { throw mismatch(envField, expected: "a mapping of names") }
                    let f = Field(key: key, value: value, path: Self.member(envField.path, k.string))
                    exec.environment[k.string] = try string(f) ?? ""
                }
            }
            if let f = entry["restart"], let restart = try optionalSection(f, keys: Keys.restart) {
                if let b = restart["backoff"], let d = try preciseDuration(b) { exec.backoff = d }
                if let b = restart["max_backoff"], let d = try preciseDuration(b) { exec.maxBackoff = d }
                if let q = restart["quarantine_after"], let n = try integer(q) {
                    guard n >= 1 else { throw error("expected at least 1, got \(n)", at: q) }
                    exec.quarantineAfter = n
                }
            }
            options.exec = exec
        }
        if let field = entry["webhook"] {
            let url = try string(field) ?? ""
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw error("expected an http:// or https:// URL, got \(quoted(url))", at: field)
            }
            var webhook = MynahConfiguration.WebhookPlugin(url: url)
            if let f = entry["secret"], let secret = try string(f) {
                try requireNonEmpty(secret, f)
                webhook.secret = secret
            }
            if let f = entry["retries"], let n = try integer(f) {
                guard (0...10).contains(n) else { throw error("expected 0 to 10, got \(n)", at: f) }
                webhook.retries = n
            }
            options.webhook = webhook
        }
        return options
    }

    /// A list of strings (a single string counts as a list of one).
    func stringList(_ field: Field) throws(ConfigurationError) -> [String] {
        if case .scalar = field.value {
            guard let s = try string(field) else { return [] }
            return [s]
        }
        guard let items = try optionalSequence(field) else { return [] }
        var values: [String] = []
        for item in items {
            guard let s = try string(item), !s.isEmpty else { throw mismatch(item, expected: "a non-empty string") }
            values.append(s)
        }
        return values
    }

    /// A positive duration with an optional unit `ms`, `s`, `m`, `h` or `d` (`250ms`, `5s`, `1m`); bare numbers are
    /// seconds.
    func preciseDuration(_ field: Field) throws(ConfigurationError) -> Duration? {
        guard let text = try string(field) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var digits = Substring(trimmed)
        var unit: Int64 = 1000
        for (suffix, millis) in units where trimmed.hasSuffix(suffix) {
            digits = digits.dropLast(suffix.count)
            unit = millis
            break
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(digits), n > 0,
              n <= Int64.max / unit / 1_000_000
        else {
            throw error("expected a positive duration such as 250ms, 5s, 1m or 12h, got \(quoted(text))", at: field)
        }
        return .milliseconds(n * unit)
    }
}
