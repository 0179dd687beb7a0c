import Hub
import IMProtocol

/// An operator of the console, declared in `bots.yaml` (`console: operators:`): signs in with a name and a password
/// checked against a bcrypt hash, and reaches every app.
public struct ConsoleOperator: Sendable, Equatable {
    /// The sign-in name.
    public var name: String
    /// The bcrypt hash of the password (`$2b$10$...`, 60 characters).
    public var passwordHash: String

    /// Creates an operator.
    public init(name: String, passwordHash: String) {
        self.name = name
        self.passwordHash = passwordHash
    }

    /// Whether `text` has the shape of a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost, then 53 characters.
    public static func isBcryptHash(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 60, b[0] == UInt8(ascii: "$"), b[1] == UInt8(ascii: "2"), b[3] == UInt8(ascii: "$"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(b[2]), b[6] == UInt8(ascii: "$"),
              let cost = Int(String(decoding: b[4...5], as: UTF8.self)), (4...31).contains(cost)
        else { return false }
        return b[7...].allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x2F
        }
    }
}

/// What the console serves and the parts of the daemon it reaches beyond the hub: the bots and their reload live
/// in the composition layer, so the daemon hands them in as functions.
public struct ConsoleOptions: Sendable {
    /// One bot as the Bots screen shows it.
    public struct BotState: Sendable {
        /// The bot's name in `bots.yaml`.
        public var name: String
        /// The AppKey of its robot account.
        public var appKey: String
        /// The robot's username.
        public var username: String
        /// Its plugins, as `bots.yaml` names them.
        public var plugins: [String]
        /// Whether it has a gateway session open right now (robots of a remote hub: unknown, false).
        public var connected: Bool
        /// Since when its current connection is up (milliseconds since 1970), when the bot runs and is connected.
        public var connectedSince: Int64?
        /// Events it received in the last 60 seconds.
        public var eventsPerMinute: Int
        /// Each plugin's id and state (`running`, `starting`, `restarting`, `quarantined`) with a detail.
        public var pluginStates: [PluginState]
        /// Its most recent failures, newest first.
        public var failures: [Failure]

        /// One plugin's state.
        public struct PluginState: Sendable {
            /// The plugin's id in its bot.
            public var id: String
            /// `running`, `starting`, `restarting` or `quarantined`.
            public var state: String
            /// Why it is quarantined, or how many failures in a row it restarts after.
            public var detail: String?

            /// Creates a plugin's state.
            public init(id: String, state: String, detail: String? = nil) {
                self.id = id
                self.state = state
                self.detail = detail
            }
        }

        /// One failure of a plugin on an event or an action.
        public struct Failure: Sendable {
            /// When, in milliseconds since 1970.
            public var at: Int64
            /// The plugin's id.
            public var plugin: String
            /// What went wrong.
            public var message: String

            /// Creates a failure.
            public init(at: Int64, plugin: String, message: String) {
                self.at = at
                self.plugin = plugin
                self.message = message
            }
        }

        /// Creates a bot's state.
        public init(name: String, appKey: String, username: String, plugins: [String], connected: Bool,
                    connectedSince: Int64? = nil, eventsPerMinute: Int = 0, pluginStates: [PluginState] = [],
                    failures: [Failure] = []) {
            self.name = name
            self.appKey = appKey
            self.username = username
            self.plugins = plugins
            self.connected = connected
            self.connectedSince = connectedSince
            self.eventsPerMinute = eventsPerMinute
            self.pluginStates = pluginStates
            self.failures = failures
        }
    }

    /// A failed reload: the configuration file's error, located.
    public struct ReloadFailure: Error, Sendable {
        /// `bots.yaml:LINE:COL: path: message`, as `mynah check` prints it.
        public var description: String
        /// The file, line and column, when known.
        public var file: String?
        /// The 1-based line.
        public var line: Int?
        /// The 1-based column.
        public var column: Int?

        /// Creates a failure.
        public init(description: String, file: String? = nil, line: Int? = nil, column: Int? = nil) {
            self.description = description
            self.file = file
            self.line = line
            self.column = column
        }
    }

    /// The operators who may sign in.
    public var operators: [ConsoleOperator]
    /// How long an unused session lasts.
    public var sessionTTL: Duration
    /// Failed sign-ins allowed per account name in `failureWindow` before further attempts are refused.
    public var maxFailures: Int
    /// The window of `maxFailures`.
    public var failureWindow: Duration
    /// The configured bots and their state.
    public var bots: @Sendable () async -> [BotState]
    /// Re-reads and applies the configuration file (bots only); a file that does not validate changes nothing.
    public var reload: @Sendable () async -> Result<Void, ReloadFailure>

    /// Creates the options; without `bots` and `reload` the Bots screen is empty and reloading is refused.
    public init(operators: [ConsoleOperator] = [], sessionTTL: Duration = .seconds(8 * 3600), maxFailures: Int = 5,
                failureWindow: Duration = .seconds(900),
                bots: @escaping @Sendable () async -> [BotState] = { [] },
                reload: @escaping @Sendable () async -> Result<Void, ReloadFailure> = {
                    .failure(ReloadFailure(description: "this daemon has no configuration file to reload"))
                }) {
        self.operators = operators
        self.sessionTTL = sessionTTL
        self.maxFailures = maxFailures
        self.failureWindow = failureWindow
        self.bots = bots
        self.reload = reload
    }
}
