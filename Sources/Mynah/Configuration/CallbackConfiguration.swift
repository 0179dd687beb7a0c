import IMProtocol

extension MynahConfiguration {
    /// One message-routing destination of an app (an entry of the app's `callbacks:`): where the app's messages are
    /// POSTed in JMessage's routing format, which of them, and how failures are retried (docs/callbacks.md).
    public struct Callback: Sendable, Equatable {
        /// The app whose messages go out (the app the `callbacks:` entry is under).
        public var appKey: String
        /// The http or https URL (`url:`).
        public var url: String
        /// Which conversations are routed (`conversations:`); all three by default.
        public var conversations: Set<TargetType>
        /// The HMAC-SHA256 key of the `X-Mynah-Signature` header (`secret:`); no signature without one.
        public var secret: String?
        /// The limit of one POST (`timeout:`, default 5s).
        public var timeout: Duration
        /// The first retry delay (`retry.backoff`, default 1s); it doubles per failure ...
        public var backoff: Duration
        /// ... up to this (`retry.max_backoff`, default 5m).
        public var maxBackoff: Duration
        /// Failed attempts after which a batch is kept as a dead letter and routing moves on (`dead_after:`,
        /// default 10).
        public var deadAfter: Int
        /// The most messages one POST carries (`batch.max`, 1 to 100, default 100).
        public var batchMax: Int
        /// How long the first message of a batch waits for more (`batch.wait`, default 1s).
        public var batchWait: Duration
        /// Which gateway events are routed too (`events:`); none by default.
        public var events: EventFilter = .none

        /// Which gateway events a destination gets (`events: false | true | [kind, ...]`).
        public enum EventFilter: Sendable, Equatable {
            /// Messages only (JMessage's routing).
            case none
            /// Every event of the routed conversations.
            case all
            /// Only these kinds.
            case kinds(Set<ChatEvent.Kind>)

            /// Whether an event of `kind` goes.
            public func admits(_ kind: ChatEvent.Kind) -> Bool {
                switch self {
                case .none: false
                case .all: true
                case .kinds(let kinds): kinds.contains(kind)
                }
            }

            /// The kinds the hub emits, the values `events:` may list.
            public static let known: [ChatEvent.Kind] = [
                .groupCreated, .groupUpdated, .groupDeleted, .groupMembersAdded, .groupMembersRemoved,
                .groupOwnerChanged, .groupMembersSilenced, .groupMembersUnsilenced, .friendAdded, .friendRemoved,
                .messageRetracted,
            ]
        }

        /// Creates a destination with the documented defaults.
        public init(appKey: String, url: String, conversations: Set<TargetType> = Set(TargetType.allCases),
                    secret: String? = nil, timeout: Duration = .seconds(5), backoff: Duration = .seconds(1),
                    maxBackoff: Duration = .seconds(300), deadAfter: Int = 10, batchMax: Int = 100,
                    batchWait: Duration = .seconds(1)) {
            self.appKey = appKey
            self.url = url
            self.conversations = conversations
            self.secret = secret
            self.timeout = timeout
            self.backoff = backoff
            self.maxBackoff = maxBackoff
            self.deadAfter = deadAfter
            self.batchMax = batchMax
            self.batchWait = batchWait
        }

        /// The destination's durable name: its cursor and dead letters are kept under it.
        public var key: String { "\(appKey) \(url)" }
    }

    /// How the receipt callbacks of bridged pushes are retried (`bridge.receipt_callbacks`): failures wait `backoff`,
    /// doubling up to `max_backoff`; after `dead_after` failed attempts in a row a report is kept as a dead letter.
    public struct ReceiptCallbacks: Sendable, Equatable {
        /// The limit of one POST (`timeout:`, default 5s).
        public var timeout: Duration = .seconds(5)
        /// The first retry delay (`retry.backoff`, default 1s).
        public var backoff: Duration = .seconds(1)
        /// The longest retry delay (`retry.max_backoff`, default 5m).
        public var maxBackoff: Duration = .seconds(300)
        /// Failed attempts after which a report becomes a dead letter (`dead_after:`, 1 to 1000, default 10).
        public var deadAfter = 10
        /// How long a node holds the pushes it claimed to report (`lease:`, more than `timeout`, default 60s): how
        /// soon, on PostgreSQL, another node takes over the reports of a node that died.
        public var lease: Duration = .seconds(60)

        /// The documented defaults.
        public init() {}
    }

    /// A bot that lives on the real JMessage (`hub.jmessage`): hears the app's routing callbacks and sends through
    /// the REST API as an admin account.
    public struct JMessageHub: Sendable, Equatable {
        /// The JMessage app (`appkey:`); the bot's own `appkey:`.
        public var appKey: String
        /// The app's master secret (`master_secret:`): the REST API's Basic credentials and what callbacks must carry.
        public var masterSecret: String
        /// The REST API base (`api:`, default `https://api.im.jpush.cn`).
        public var api: String
        /// The report API base (`report:`, default `https://report.im.jpush.cn`); kept for history catch-up.
        public var report: String
        /// Where the daemon receives the app's routing callbacks (`callback_path:`, default `/jmessage/callback`).
        public var callbackPath: String

        /// Creates the settings with JMessage's public endpoints.
        public init(appKey: String, masterSecret: String, api: String = "https://api.im.jpush.cn",
                    report: String = "https://report.im.jpush.cn", callbackPath: String = "/jmessage/callback") {
            self.appKey = appKey
            self.masterSecret = masterSecret
            self.api = api
            self.report = report
            self.callbackPath = callbackPath
        }
    }
}
