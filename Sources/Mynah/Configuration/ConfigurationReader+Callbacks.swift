import Foundation
import IMProtocol
import Yams

// Reading message routing (`callbacks:` of an app) and bots on the real JMessage (`hub.jmessage`); docs/callbacks.md.
extension ConfigurationReader.Keys {
    static let callback = ["url", "conversations", "events", "secret", "timeout", "retry", "dead_after", "batch"]
    static let callbackRetry = ["backoff", "max_backoff"]
    static let callbackBatch = ["max", "wait"]
    static let receiptCallbacks = ["timeout", "retry", "dead_after", "lease"]
    static let jmessage = ["appkey", "master_secret", "api", "report", "callback_path"]
}

extension ConfigurationReader {
    /// Reads the `callbacks:` of every entry of `apps:` (already checked by ``apps(_:)``), in file order.
    func callbacks(_ appsField: Field?) throws(ConfigurationError) -> [MynahConfiguration.Callback] {
        guard let appsField, let items = try optionalSequence(appsField) else { return [] }
        var result: [MynahConfiguration.Callback] = []
        for item in items {
            let app = try section(item, keys: Keys.app)
            guard let field = app["callbacks"], let entries = try optionalSequence(field) else { continue }
            let (appKey, _) = try requiredString(app, "appkey")
            var seen: [String: String] = [:]
            for entry in entries {
                let callback = try self.callback(entry, appKey: appKey)
                if let previous = seen[callback.url] {
                    throw error("duplicate url \(quoted(callback.url)); \(previous) already has it", at: entry)
                }
                seen[callback.url] = entry.path
                result.append(callback)
            }
        }
        return result
    }

    /// One entry of an app's `callbacks:`.
    func callback(_ field: Field, appKey: String) throws(ConfigurationError) -> MynahConfiguration.Callback {
        let entry = try section(field, keys: Keys.callback)
        let (url, urlField) = try requiredString(entry, "url")
        try requireHTTPURL(url, urlField)
        var callback = MynahConfiguration.Callback(appKey: appKey, url: url)
        if let f = entry["conversations"] {
            var kinds: Set<TargetType> = []
            for word in try stringList(f) {
                guard let kind = TargetType(rawValue: word) else {
                    throw error("expected single, group or chatroom, got \(quoted(word))", at: f)
                }
                kinds.insert(kind)
            }
            guard !kinds.isEmpty else { throw error("expected at least one of single, group, chatroom", at: f) }
            callback.conversations = kinds
        }
        if let f = entry["events"] { callback.events = try eventFilter(f) }
        if let f = entry["secret"], let secret = try string(f) {
            try requireNonEmpty(secret, f)
            callback.secret = secret
        }
        if let f = entry["timeout"], let d = try preciseDuration(f) { callback.timeout = d }
        if let f = entry["retry"], let retry = try optionalSection(f, keys: Keys.callbackRetry) {
            if let b = retry["backoff"], let d = try preciseDuration(b) { callback.backoff = d }
            if let b = retry["max_backoff"], let d = try preciseDuration(b) {
                guard d >= callback.backoff else { throw error("expected at least retry.backoff", at: b) }
                callback.maxBackoff = d
            }
        }
        if let f = entry["dead_after"], let n = try integer(f) {
            guard (1...1000).contains(n) else { throw error("expected 1 to 1000 failed attempts, got \(n)", at: f) }
            callback.deadAfter = n
        }
        if let f = entry["batch"], let batch = try optionalSection(f, keys: Keys.callbackBatch) {
            if let m = batch["max"], let n = try integer(m) {
                guard (1...100).contains(n) else { throw error("expected 1 to 100 messages, got \(n)", at: m) }
                callback.batchMax = n
            }
            if let w = batch["wait"], let d = try preciseDuration(w) {
                guard d <= .seconds(60) else { throw error("expected at most 60s", at: w) }
                callback.batchWait = d
            }
        }
        return callback
    }

    /// Reads `bridge.receipt_callbacks`: how push receipt callbacks are retried.
    func receiptCallbacks(_ f: Field) throws(ConfigurationError) -> MynahConfiguration.ReceiptCallbacks {
        var result = MynahConfiguration.ReceiptCallbacks()
        guard let section = try optionalSection(f, keys: Keys.receiptCallbacks) else { return result }
        if let f = section["timeout"], let d = try preciseDuration(f) { result.timeout = d }
        if let f = section["retry"], let retry = try optionalSection(f, keys: Keys.callbackRetry) {
            if let b = retry["backoff"], let d = try preciseDuration(b) { result.backoff = d }
            if let b = retry["max_backoff"], let d = try preciseDuration(b) {
                guard d >= result.backoff else { throw error("expected at least retry.backoff", at: b) }
                result.maxBackoff = d
            }
        }
        if let f = section["dead_after"], let n = try integer(f) {
            guard (1...1000).contains(n) else { throw error("expected 1 to 1000 failed attempts, got \(n)", at: f) }
            result.deadAfter = n
        }
        if let f = section["lease"], let d = try preciseDuration(f) {
            guard d > result.timeout else { throw error("expected more than timeout (\(result.timeout))", at: f) }
            result.lease = d
        }
        return result
    }

    /// Reads `events:` of a callback: a boolean, or a list of event kinds.
    func eventFilter(_ f: Field) throws(ConfigurationError) -> MynahConfiguration.Callback.EventFilter {
        if case .scalar = f.value {
            guard let all = try boolean(f) else { return .none }
            return all ? .all : .none
        }
        let known = MynahConfiguration.Callback.EventFilter.known
        var kinds: Set<ChatEvent.Kind> = []
        for word in try stringList(f) {
            let kind = ChatEvent.Kind(rawValue: word)
            guard known.contains(kind) else {
                throw error("expected true, false or a list of \(known.map(\.rawValue).joined(separator: ", ")); "
                            + "got \(quoted(word))", at: f)
            }
            kinds.insert(kind)
        }
        guard !kinds.isEmpty else { throw error("expected at least one event kind (or false)", at: f) }
        return .kinds(kinds)
    }

    /// Reads `hub.jmessage` of the bot `bot`: the bot's app on the real JMessage.
    func jmessageHub(_ hub: Section, bot: Section) throws(ConfigurationError) -> MynahConfiguration.JMessageHub {
        if let url = hub["url"] {
            throw error("a bot's hub is either url (a Mynah gateway) or jmessage, not both", at: url)
        }
        if let secret = hub["master_secret"] {
            throw error("put master_secret under hub.jmessage", at: secret)
        }
        guard let field = hub["jmessage"] else {
            throw ConfigurationError(location: location(hub.mark), path: Self.member(hub.path, "jmessage"),
                                     message: "missing required key")
        }
        let jm = try section(field, keys: Keys.jmessage)
        let botAppKey = try optionalString(bot, "appkey") ?? ""
        var appKey = botAppKey
        if let f = jm["appkey"], let key = try string(f) {
            guard key == botAppKey else {
                throw error("expected the bot's own appkey \(quoted(botAppKey)), got \(quoted(key))", at: f)
            }
            appKey = key
        }
        let (secret, secretField) = try requiredString(jm, "master_secret")
        try requireNonEmpty(secret, secretField)
        var settings = MynahConfiguration.JMessageHub(appKey: appKey, masterSecret: secret)
        for key in ["api", "report"] {
            guard let f = jm[key], let url = try string(f) else { continue }
            try requireHTTPURL(url, f)
            // The master secret goes with every request: never in clear text beyond this machine.
            guard URL(string: url)?.scheme == "https" || Daemon.isLoopback(URL(string: url)?.host ?? "") else {
                throw error("expected an https:// URL (or a loopback host): the master secret is sent with every request",
                            at: f)
            }
            let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
            if key == "api" { settings.api = trimmed } else { settings.report = trimmed }
        }
        if let f = jm["callback_path"], let path = try string(f) {
            guard path.hasPrefix("/"), path.count > 1, !path.contains(where: { $0.isWhitespace || $0 == "?" || $0 == "#" || $0 == ":" }),
                  !["/v1/", "/v2/", "/v3/", "/gateway", "/metrics", "/health", "/console", "/chat"].contains(where: { path.hasPrefix($0) })
            else {
                throw error("expected a path such as /jmessage/callback, outside the daemon's own routes, got \(quoted(path))",
                            at: f)
            }
            settings.callbackPath = path
        }
        return settings
    }

    /// Checks that `url` is an absolute http or https URL.
    func requireHTTPURL(_ url: String, _ field: Field) throws(ConfigurationError) {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw error("expected an http:// or https:// URL, got \(quoted(url))", at: field)
        }
    }
}
