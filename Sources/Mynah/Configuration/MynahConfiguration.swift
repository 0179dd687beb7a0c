import Hub
import IMProtocol

/// The daemon's configuration as read from `bots.yaml`: where to listen, where to keep data,
/// the apps it hosts and the bots it runs.
///
/// ```swift
/// let configuration = try ConfigurationLoader.load(path: "bots.yaml")
/// print(configuration.listen.port, configuration.bots.map(\.name))
/// ```
public struct MynahConfiguration: Sendable, Equatable {
    /// The address the HTTP and WebSocket server binds to (`listen:`).
    public struct Listen: Sendable, Equatable {
        /// The host name or IP address to bind (`host:`); defaults to `127.0.0.1`.
        public var host: String
        /// The TCP port (`port:`, 0...65535); defaults to 8080, and 0 lets the operating system choose.
        public var port: Int

        /// Creates a listen address; the defaults are `127.0.0.1:8080`.
        public init(host: String = "127.0.0.1", port: Int = 8080) {
            self.host = host
            self.port = port
        }
    }

    /// An application hosted by the server (an entry of `apps:`): the hub's own `AppSettings`, so the
    /// configuration and the hub share one definition of an app's key, secret and rules.
    public typealias App = AppSettings

    /// One plugin of a bot (an entry of `plugins:`): a built-in Swift plugin and its free-form configuration.
    public struct Plugin: Sendable, Equatable {
        /// The name of the built-in plugin (`swift:`); never empty.
        public var swift: String
        /// The plugin's own configuration (`config:`), `.object([:])` when absent.
        public var config: JSONValue
        /// Where the plugin entry starts in the configuration file, for the plugin's own error messages.
        public var location: SourceLocation
        /// The id, time limit, schedules and, for `exec:` and `webhook:` plugins, their settings; `swift` is
        /// empty for those.
        public var options = PluginOptions()

        /// Creates a plugin entry; configurations built in code may leave `location` at its placeholder default.
        public init(swift: String, config: JSONValue = .object([:]), location: SourceLocation = .inCode) {
            self.swift = swift
            self.config = config
            self.location = location
        }
    }

    /// A bot (an entry of `bots:`): a user of one app that logs in over the gateway and runs plugins.
    public struct Bot: Sendable, Equatable {
        /// The bot's name (`name:`): `[A-Za-z0-9_-]+`, unique among bots.
        public var name: String
        /// The appkey of the app the bot belongs to (`appkey:`); always one of the configured apps.
        public var appKey: String
        /// The bot's username in its app (`username:`): 4 to 128 characters of `[A-Za-z0-9_.@-]`,
        /// starting with a letter or digit.
        public var username: String
        /// The bot's password (`password:`): 4 to 128 characters.
        public var password: String
        /// The bot's nickname (`nickname:`), if any.
        public var nickname: String?
        /// The plugins the bot runs, in order (`plugins:`); at least one.
        public var plugins: [Plugin]
        /// Where the bot entry starts in the configuration file.
        public var location: SourceLocation
        /// Listening, roles, rate limit, relays and remote hub.
        public var options = BotOptions()

        /// Creates a bot; configurations built in code may leave `location` at its placeholder default.
        public init(
            name: String,
            appKey: String,
            username: String,
            password: String,
            nickname: String? = nil,
            plugins: [Plugin],
            location: SourceLocation = .inCode
        ) {
            self.name = name
            self.appKey = appKey
            self.username = username
            self.password = password
            self.nickname = nickname
            self.plugins = plugins
            self.location = location
        }
    }

    /// The address to listen on (`listen:`); defaults to `127.0.0.1:8080`.
    public var listen: Listen
    /// The directory holding the database and other state (`data_dir:`); defaults to `./data`.
    public var dataDirectory: String
    /// The log level (`log_level:`): one of trace, debug, info, notice, warning, error, critical; defaults to `info`.
    public var logLevel: String
    /// The hosted apps (`apps:`), in file order; defaults to none.
    public var apps: [App]
    /// The bots to run (`bots:`), in file order; defaults to none.
    public var bots: [Bot]
    /// The push bridge (`bridge:`): its rules and rate limit; defaults to no rules.
    public var bridge = BridgeSection()
    /// `GET /metrics` (`metrics:`): on by default, open unless a token is set.
    public var metrics = Metrics()
    /// Message routing out of the hub (`callbacks:` of each app), in file order; defaults to none.
    public var callbacks: [Callback] = []
    /// Where data is kept (`storage:`): SQLite files under `data_dir` by default, or PostgreSQL.
    public var storage = StorageSection()
    /// `/console` and `/chat` (`console:`, ConfigurationReader+Console.swift): on, without operators, by default.
    public var console = ConsoleSection()
    /// The WebSocket gateway's timers (`gateway:`, ConfigurationReader+Gateway.swift); the defaults when absent.
    public var gateway = GatewaySection()

    /// The `metrics:` section.
    public struct Metrics: Sendable, Equatable {
        /// Whether `GET /metrics` is served (`enabled:`, default true).
        public var enabled = true
        /// The bearer token a scraper must present (`token:`, usually `${MYNAH_METRICS_TOKEN}`); `nil` leaves it open.
        public var token: String?

        /// Creates the section with its defaults.
        public init(enabled: Bool = true, token: String? = nil) {
            self.enabled = enabled
            self.token = token
        }
    }

    /// Creates a configuration; every argument defaults to the value used when `bots.yaml` omits the key.
    public init(
        listen: Listen = Listen(),
        dataDirectory: String = "./data",
        logLevel: String = "info",
        apps: [App] = [],
        bots: [Bot] = []
    ) {
        self.listen = listen
        self.dataDirectory = dataDirectory
        self.logLevel = logLevel
        self.apps = apps
        self.bots = bots
    }
}
