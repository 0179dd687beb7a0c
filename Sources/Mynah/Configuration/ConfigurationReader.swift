import Foundation
import Hub
import IMProtocol
import Yams

/// Mynah's schema of `bots.yaml` over the generic ``YAMLWalker``: checks every key against the keys its section
/// allows, reads typed values, validates them and builds the configuration. Sections of their own are read in the
/// `ConfigurationReader+*.swift` files.
struct ConfigurationReader: YAMLWalker {
    /// The file name used in error locations.
    let fileName: String
    /// The variables `${...}` refers to.
    let environment: [String: String]
    /// The problems found so far: the read goes on past each one so that all of them are reported.
    let diagnostics = ConfigurationDiagnostics()

    /// The accepted values of `log_level`, as swift-log spells its levels.
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The complete set of keys each kind of mapping allows.
    enum Keys {
        static let document = ["listen", "data_dir", "log_level", "apps", "bots", "bridge", "metrics", "storage", "console",
                               "gateway"]
        static let listen = ["host", "port"]
        static let metrics = ["enabled", "token"]
        static let app = ["appkey", "master_secret", "name", "offline_messages", "offline_ttl", "friend_mode", "cross_app",
                          "max_group_members", "callbacks"]
        static let bot = ["name", "appkey", "username", "password", "nickname", "plugins"] + botOptions
        static let plugin = ["swift", "config"] + pluginOptions
    }

    // MARK: - The document

    /// Builds the configuration from the document's root node (`nil` for an empty stream), reporting every
    /// problem of the file and those `validate` finds in what could be read.
    func configuration(from root: Yams.Node?,
                       validate: ((MynahConfiguration) throws(ConfigurationError) -> Void)? = nil)
        throws(ConfigurationError) -> MynahConfiguration {
        guard let root else {
            throw ConfigurationError(location: location(nil), path: "", message: "empty configuration")
        }
        let document = Field(key: nil, value: root, path: "")
        if case .scalar = root, try scalar(document).kind == .null {
            throw error("empty configuration", at: document)
        }
        let top = try section(document, keys: Keys.document, expected: "a mapping at the top level")

        var configuration = MynahConfiguration()
        // Each piece that fails is recorded and left at its default; the read goes on (see ``recovering(_:)``).
        recovering { () throws(ConfigurationError) in
            guard let field = top["listen"], let listen = try optionalSection(field, keys: Keys.listen) else { return }
            recovering { () throws(ConfigurationError) in
                guard let field = listen["host"], let host = try string(field) else { return }
                try requireNonEmpty(host, field)
                configuration.listen.host = host
            }
            recovering { () throws(ConfigurationError) in
                guard let field = listen["port"], let port = try integer(field) else { return }
                guard (0...65535).contains(port) else {
                    throw error("expected a port number from 0 to 65535, got \(port)", at: field)
                }
                configuration.listen.port = port
            }
        }
        recovering { () throws(ConfigurationError) in
            guard let field = top["data_dir"], let directory = try string(field) else { return }
            try requireNonEmpty(directory, field)
            configuration.dataDirectory = directory
        }
        recovering { () throws(ConfigurationError) in
            guard let field = top["log_level"], let level = try string(field) else { return }
            guard Self.logLevels.contains(level.lowercased()) else {
                let levels = Self.logLevels.joined(separator: ", ")
                throw error("expected one of \(levels), got \(quoted(level))", at: field)
            }
            configuration.logLevel = level.lowercased()
        }
        configuration.apps = recovering([]) { () throws(ConfigurationError) in
            try apps(top["apps"], listenHost: configuration.listen.host)
        }
        configuration.bots = recovering([]) { () throws(ConfigurationError) in try bots(top["bots"], apps: configuration.apps) }
        configuration.bridge = recovering(BridgeSection()) { () throws(ConfigurationError) in
            try bridge(top["bridge"], apps: configuration.apps)
        }
        configuration.callbacks = recovering([]) { () throws(ConfigurationError) in try callbacks(top["apps"]) }
        configuration.storage = recovering(StorageSection()) { () throws(ConfigurationError) in try storage(top["storage"]) }
        configuration.console = recovering(ConsoleSection()) { () throws(ConfigurationError) in try console(top["console"]) }
        configuration.gateway = recovering(GatewaySection()) { () throws(ConfigurationError) in try gateway(top["gateway"]) }
        recovering { () throws(ConfigurationError) in
            guard let field = top["metrics"], let metrics = try optionalSection(field, keys: Keys.metrics) else { return }
            recovering { () throws(ConfigurationError) in
                if let field = metrics["enabled"], let enabled = try boolean(field) { configuration.metrics.enabled = enabled }
            }
            recovering { () throws(ConfigurationError) in
                guard let field = metrics["token"], let token = try string(field) else { return }
                try requireNonEmpty(token, field)
                configuration.metrics.token = token
            }
        }
        if let validate { recovering { () throws(ConfigurationError) in try validate(configuration) } }
        try throwRecorded()
        return configuration
    }

    /// Reads `apps:`; absent or empty means no apps. A master secret shorter than ``minimumSecretLength`` is
    /// refused unless the daemon listens on loopback only (`listenHost`).
    func apps(_ field: Field?, listenHost: String) throws(ConfigurationError) -> [MynahConfiguration.App] {
        guard let field, let items = try optionalSequence(field) else { return [] }
        var apps: [MynahConfiguration.App] = []
        var indexByAppKey: [String: Int] = [:]
        var crossAppFields: [(String, Field)] = []
        for (index, item) in items.enumerated() { recovering { () throws(ConfigurationError) in
            let entry = try section(item, keys: Keys.app)
            let (appKey, appKeyField) = try requiredString(entry, "appkey")
            guard isAppKey(appKey) else {
                throw error("expected 1 to 64 of the characters A-Z a-z 0-9 _ -, got \(quoted(appKey))", at: appKeyField)
            }
            if let previous = indexByAppKey[appKey] {
                throw error("duplicate appkey \(quoted(appKey)); \(field.path)[\(previous)] already has it", at: appKeyField)
            }
            indexByAppKey[appKey] = index
            var app = MynahConfiguration.App(appKey: appKey, masterSecret: "")
            recovering { () throws(ConfigurationError) in
                let (secret, secretField) = try requiredString(entry, "master_secret")
                try requireNonEmpty(secret, secretField)
                try checkSecretLength(secret, secretField, listenHost: listenHost)
                app.masterSecret = secret
            }
            recovering { () throws(ConfigurationError) in app.name = try optionalString(entry, "name") }
            recovering { () throws(ConfigurationError) in
                if let field = entry["offline_messages"], let offline = try boolean(field) { app.offlineMessages = offline }
            }
            recovering { () throws(ConfigurationError) in
                if let field = entry["offline_ttl"], let ttl = try duration(field) { app.offlineTTL = ttl }
            }
            recovering { () throws(ConfigurationError) in
                if let field = entry["friend_mode"], let friendMode = try boolean(field) { app.friendMode = friendMode }
            }
            recovering { () throws(ConfigurationError) in
                guard let field = entry["max_group_members"], let max = try integer(field) else { return }
                guard (2...100_000).contains(max) else { throw error("expected 2 to 100000, got \(max)", at: field) }
                app.maxGroupMembers = max
            }
            recovering { () throws(ConfigurationError) in
                guard let field = entry["cross_app"], let list = try optionalSequence(field) else { return }
                for item in list {
                    recovering { () throws(ConfigurationError) in
                        guard let other = try string(item) else { return }
                        crossAppFields.append((other, item))
                        app.crossApp.insert(other)
                    }
                }
            }
            apps.append(app)
        } }
        // `cross_app` may name apps declared after it, so it is checked once all are read.
        for (other, item) in crossAppFields where indexByAppKey[other] == nil {
            diagnostics.record(error(unknownAppKeyMessage(other, known: apps.map(\.appKey)), at: item))
        }
        return apps
    }

    /// Reads `bots:`; absent or empty means no bots. Every bot must belong to one of `apps`.
    func bots(_ field: Field?, apps: [MynahConfiguration.App]) throws(ConfigurationError) -> [MynahConfiguration.Bot] {
        guard let field, let items = try optionalSequence(field) else { return [] }
        let appKeys = apps.map(\.appKey)
        var bots: [MynahConfiguration.Bot] = []
        var indexByName: [String: Int] = [:]
        var indexByAccount: [String: Int] = [:]
        for (index, item) in items.enumerated() { recovering { () throws(ConfigurationError) in
            let entry = try section(item, keys: Keys.bot)

            let (name, nameField) = try requiredString(entry, "name")
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isNameCharacter) else {
                throw error("expected one or more of the characters A-Z a-z 0-9 _ -, got \(quoted(name))", at: nameField)
            }
            if let previous = indexByName[name] {
                throw error("duplicate bot name \(quoted(name)); \(field.path)[\(previous)] already has it", at: nameField)
            }
            indexByName[name] = index

            let (appKey, appKeyField) = try requiredString(entry, "appkey")
            let options = try botOptions(entry)
            guard appKeys.contains(appKey) || options.hubURL != nil || options.jmessage != nil else {
                throw error(unknownAppKeyMessage(appKey, known: appKeys), at: appKeyField)
            }

            let (username, usernameField) = try requiredString(entry, "username")
            try validateUsername(username, usernameField)
            let account = "\(appKey)\u{0}\(username)"
            if let previous = indexByAccount[account] {
                throw error(
                    "username \(quoted(username)) is already used by \(field.path)[\(previous)] in the same app",
                    at: usernameField
                )
            }
            indexByAccount[account] = index

            let (password, passwordField) = try requiredString(entry, "password")
            let length = password.utf8.count
            guard (4...128).contains(length) else {
                throw error("expected 4 to 128 bytes (UTF-8), got \(length)", at: passwordField)
            }

            let nickname = try optionalString(entry, "nickname")
            let plugins = try plugins(try required(entry, "plugins"))
            bots.append(
                MynahConfiguration.Bot(
                    name: name,
                    appKey: appKey,
                    username: username,
                    password: password,
                    nickname: nickname,
                    plugins: plugins,
                    location: location(entry.mark)
                )
            )
            bots[bots.count - 1].options = options
        } }
        return bots
    }

    /// Reads a bot's `plugins:`, which must list at least one plugin.
    func plugins(_ field: Field) throws(ConfigurationError) -> [MynahConfiguration.Plugin] {
        guard let items = try optionalSequence(field), !items.isEmpty else {
            if case .sequence = field.value {
                throw error("expected at least one plugin", at: field)
            }
            throw mismatch(field, expected: "a list of plugins")
        }
        var plugins: [MynahConfiguration.Plugin] = []
        for item in items { recovering { () throws(ConfigurationError) in
            if case .scalar = item.value {
                throw mismatch(item, expected: "a mapping such as 'swift: echo'")
            }
            let entry = try section(item, keys: Keys.plugin)
            let options = try pluginOptions(entry)
            var swift = ""
            if options.exec == nil && options.webhook == nil {
                let (name, swiftField) = try requiredString(entry, "swift")
                try requireNonEmpty(name, swiftField)
                swift = name
            }
            var config = JSONValue.object([:])
            if let configField = entry["config"] {
                if case .scalar = configField.value, try scalar(configField).kind == .null {
                    // `config:` with nothing after it: same as no configuration.
                } else if case .mapping = configField.value {
                    config = try json(configField)
                } else {
                    throw mismatch(configField, expected: "a mapping")
                }
            }
            plugins.append(MynahConfiguration.Plugin(swift: swift, config: config, location: location(entry.mark)))
            plugins[plugins.count - 1].options = options
        } }
        return plugins
    }

    // MARK: - Validation

    /// Whether `value` is 1 to 64 characters of `[A-Za-z0-9_-]`.
    func isAppKey(_ value: String) -> Bool {
        (1...64).contains(value.unicodeScalars.count) && value.unicodeScalars.allSatisfy(Self.isNameCharacter)
    }

    /// Fails unless `username` is 4 to 128 characters of `[A-Za-z0-9_.@-]` starting with a letter or digit.
    func validateUsername(_ username: String, _ field: Field) throws(ConfigurationError) {
        let scalars = username.unicodeScalars
        guard (4...128).contains(scalars.count) else {
            throw error("expected 4 to 128 characters, got \(scalars.count) in \(quoted(username))", at: field)
        }
        if let first = scalars.first, !(Self.isASCIILetter(first) || Self.isASCIIDigit(first)) {
            throw error("must start with a letter or a digit, got \(quoted(username))", at: field)
        }
        let allowed = { (scalar: Unicode.Scalar) in
            Self.isASCIILetter(scalar) || Self.isASCIIDigit(scalar) || "_.@-".unicodeScalars.contains(scalar)
        }
        guard scalars.allSatisfy(allowed) else {
            throw error(
                "expected only the characters A-Z a-z 0-9 _ . @ -, got \(quoted(username))",
                at: field
            )
        }
    }

    /// The message for a bot whose appkey is not one of the apps, with a suggestion when one is close.
    func unknownAppKeyMessage(_ appKey: String, known: [String]) -> String {
        guard !known.isEmpty else {
            return "unknown appkey \(quoted(appKey)); no apps are configured"
        }
        var message = "unknown appkey \(quoted(appKey)); it must be the appkey of one of the apps"
        if let suggestion = Self.closest(to: appKey, among: known) {
            message += "; did you mean \(quoted(suggestion))?"
        }
        return message
    }
}
