import BotKit
import IMProtocol

extension MynahConfiguration {
    /// A bot's settings besides its account and plugins: what it listens to, roles, rate limit, relays and hub.
    public struct BotOptions: Sendable, Equatable {
        /// Which conversations reach the plugins (`listen:`).
        public var listen: BotKit.Bot.ListenFilter
        /// Role name to its members, `username` or `appkey/username` (`roles:`).
        public var roles: [String: [String]]
        /// At most this many outgoing messages (`rate_limit.messages`, default 60) ...
        public var rateLimit: Int
        /// ... per this period (`rate_limit.per`, default 1m).
        public var ratePeriod: Duration
        /// The text that starts a command (`command_prefix:`, default `/`).
        public var commandPrefix: String
        /// Bots of this daemon that may send through this one (`accept_relay_from:`).
        public var acceptRelayFrom: [String]
        /// The avatar's media id (`avatar:`), set when the robot account is created.
        public var avatar: String?
        /// A remote Mynah's gateway to log in to instead of the embedded hub (`hub.url`).
        public var hubURL: String?
        /// The remote hub's master secret of the bot's app (`hub.master_secret`), for uploading attachments.
        public var hubMasterSecret: String?
        /// The real JMessage as the bot's hub (`hub.jmessage`): routing callbacks in, REST API out.
        public var jmessage: JMessageHub?

        /// The defaults: single chats and all groups, robots ignored, 60 messages a minute, `/` commands.
        public init(listen: BotKit.Bot.ListenFilter = .init(), roles: [String: [String]] = [:], rateLimit: Int = 60,
                    ratePeriod: Duration = .seconds(60), commandPrefix: String = "/", acceptRelayFrom: [String] = [],
                    avatar: String? = nil, hubURL: String? = nil) {
            self.listen = listen
            self.roles = roles
            self.rateLimit = rateLimit
            self.ratePeriod = ratePeriod
            self.commandPrefix = commandPrefix
            self.acceptRelayFrom = acceptRelayFrom
            self.avatar = avatar
            self.hubURL = hubURL
        }
    }

    /// An external program plugin (`exec:`): the command line and its supervision.
    public struct ExecPlugin: Sendable, Equatable {
        /// The program and its arguments; a relative program path is resolved against the working directory.
        public var command: [String]
        /// Extra environment variables for the program (`env:`).
        public var environment: [String: String]
        /// The first restart delay after a crash (`restart.backoff`, default 1s); it doubles per crash.
        public var backoff: Duration
        /// The longest restart delay (`restart.max_backoff`, default 60s).
        public var maxBackoff: Duration
        /// Crashes in a row after which the plugin is quarantined (`restart.quarantine_after`, default 5).
        public var quarantineAfter: Int

        /// Creates an exec plugin entry.
        public init(command: [String], environment: [String: String] = [:], backoff: Duration = .seconds(1),
                    maxBackoff: Duration = .seconds(60), quarantineAfter: Int = 5) {
            self.command = command
            self.environment = environment
            self.backoff = backoff
            self.maxBackoff = maxBackoff
            self.quarantineAfter = quarantineAfter
        }
    }

    /// A webhook plugin (`webhook:`): where events are POSTed and how.
    public struct WebhookPlugin: Sendable, Equatable {
        /// The http or https URL.
        public var url: String
        /// The HMAC-SHA256 key for the `X-Mynah-Signature` header (`secret:`); no header without one.
        public var secret: String?
        /// Retries after a failed POST (`retries:`, default 2).
        public var retries: Int

        /// Creates a webhook entry.
        public init(url: String, secret: String? = nil, retries: Int = 2) {
            self.url = url
            self.secret = secret
            self.retries = retries
        }
    }

    /// A schedule a plugin entry adds (`schedules:`): its name, cron expression and time zone.
    public struct ScheduleEntry: Sendable, Equatable {
        /// The name ticks carry.
        public var name: String
        /// The parsed expression with its time zone.
        public var cron: CronSchedule

        /// Creates a schedule entry.
        public init(name: String, cron: CronSchedule) {
            self.name = name
            self.cron = cron
        }
    }

    /// A plugin entry's settings shared by every kind.
    public struct PluginOptions: Sendable, Equatable {
        /// The plugin's id in the bot (`id:`); defaults to the plugin's name.
        public var id: String?
        /// How long one event may take (`timeout:`, default 10s).
        public var timeout: Duration
        /// Extra schedules (`schedules:`).
        public var schedules: [ScheduleEntry]
        /// Set for `exec:` plugins.
        public var exec: ExecPlugin?
        /// Set for `webhook:` plugins.
        public var webhook: WebhookPlugin?

        /// The defaults: no id, a 10 second limit, no schedules, a Swift plugin.
        public init(id: String? = nil, timeout: Duration = .seconds(10), schedules: [ScheduleEntry] = [],
                    exec: ExecPlugin? = nil, webhook: WebhookPlugin? = nil) {
            self.id = id
            self.timeout = timeout
            self.schedules = schedules
            self.exec = exec
            self.webhook = webhook
        }
    }
}

extension MynahConfiguration.Plugin {
    /// The kind and name as `bots.yaml` spells them: `swift: echo`, `exec: ...` or `webhook: URL`.
    public var displayName: String {
        if let exec = options.exec { return "exec: \(exec.command.joined(separator: " "))" }
        if let webhook = options.webhook { return "webhook: \(webhook.url)" }
        return "swift: \(swift)"
    }
}
