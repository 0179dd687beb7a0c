import IMProtocol

/// The rules and credentials of one AppKey, as configured.
public struct AppSettings: Sendable, Equatable {
    /// The AppKey.
    public var appKey: String
    /// The master secret for Basic authentication of the REST API.
    public var masterSecret: String
    /// A display name.
    public var name: String?
    /// Whether messages wait for offline recipients.
    public var offlineMessages: Bool
    /// How long an undelivered inbox entry waits before it expires; 7 days by default.
    public var offlineTTL: Duration
    /// Friend mode: single chat only between friends (robots and admins are exempt).
    public var friendMode: Bool
    /// The AppKeys whose users may message this app's users and groups, or add them to their groups.
    public var crossApp: Set<String>
    /// The `MaxMemberCount` of new groups; 500 by default.
    public var maxGroupMembers: Int

    /// The offline TTL when none is configured: 7 days.
    public static let defaultOfflineTTL: Duration = .seconds(7 * 86400)
    /// The group size when none is configured: 500, as in JMessage.
    public static let defaultMaxGroupMembers = 500

    /// Creates app settings.
    public init(appKey: String, masterSecret: String, name: String? = nil, offlineMessages: Bool = true,
                offlineTTL: Duration = AppSettings.defaultOfflineTTL, friendMode: Bool = false, crossApp: Set<String> = [],
                maxGroupMembers: Int = AppSettings.defaultMaxGroupMembers) {
        self.appKey = appKey
        self.masterSecret = masterSecret
        self.name = name
        self.offlineMessages = offlineMessages
        self.offlineTTL = offlineTTL
        self.friendMode = friendMode
        self.crossApp = crossApp
        self.maxGroupMembers = maxGroupMembers
    }
}

/// A registered account: a user, a robot or an admin, unique by (AppKey, username).
public struct User: Sendable, Equatable {
    /// The store's id of the account; stable for its lifetime.
    public var id: Int64
    /// The AppKey the account belongs to.
    public var appKey: String
    /// The username, unique within the AppKey.
    public var username: String
    /// User, robot or admin.
    public var kind: FromType
    /// Profile fields (`nickname`, `avatar`, `birthday`, `gender`, `signature`, `region`, `address`, `extras`).
    public var profile: Profile
    /// Creation time in milliseconds.
    public var ctime: Int64
    /// Last modification time in milliseconds.
    public var mtime: Int64

    /// Creates a user value.
    public init(id: Int64, appKey: String, username: String, kind: FromType, profile: Profile, ctime: Int64, mtime: Int64) {
        self.id = id
        self.appKey = appKey
        self.username = username
        self.kind = kind
        self.profile = profile
        self.ctime = ctime
        self.mtime = mtime
    }
}

/// The optional profile of an account, as the JMessage REST API names its fields.
public struct Profile: Sendable, Equatable {
    /// Display name.
    public var nickname: String?
    /// Media id of the avatar.
    public var avatar: String?
    /// Birthday, `yyyy-MM-dd`.
    public var birthday: String?
    /// 0 unknown, 1 male, 2 female.
    public var gender: Int?
    /// Signature line.
    public var signature: String?
    /// Region.
    public var region: String?
    /// Address.
    public var address: String?
    /// Free-form extras.
    public var extras: [String: JSONValue]?

    /// Creates a profile; every field is optional.
    public init(nickname: String? = nil, avatar: String? = nil, birthday: String? = nil, gender: Int? = nil,
                signature: String? = nil, region: String? = nil, address: String? = nil,
                extras: [String: JSONValue]? = nil) {
        self.nickname = nickname
        self.avatar = avatar
        self.birthday = birthday
        self.gender = gender
        self.signature = signature
        self.region = region
        self.address = address
        self.extras = extras
    }
}

/// An account to register: username, password and profile.
public struct NewUser: Sendable, Equatable {
    /// The username; 4-128 bytes, starting with a letter or digit, of letters, digits and `_ . - @`.
    public var username: String
    /// The password in clear; stored only as a bcrypt hash.
    public var password: String
    /// Optional profile.
    public var profile: Profile

    /// Creates a registration request.
    public init(username: String, password: String, profile: Profile = Profile()) {
        self.username = username
        self.password = password
        self.profile = profile
    }
}

/// One entry of a recipient's inbox: its sequence number and a message or an event.
public struct InboxEntry: Sendable, Equatable {
    /// What an inbox entry holds.
    public enum Payload: Sendable, Equatable {
        /// A message; `noNotification` when the recipient should not be notified of it.
        case message(StoredMessage, noNotification: Bool)
        /// An event (membership, friends, retraction).
        case event(ChatEvent)
    }

    /// Position in the recipient's inbox; strictly increasing, starting at 1.
    public var seq: Int64
    /// The message or event.
    public var payload: Payload
    /// The message serialized once for all its recipients, when the hub has it (entries it publishes after a
    /// send); derived from `payload`, so equality ignores it.
    public internal(set) var encoded: EncodedDelivery?

    /// Creates a message entry.
    public init(seq: Int64, stored: StoredMessage, noNotification: Bool = false, encoded: EncodedDelivery? = nil) {
        self.seq = seq
        self.payload = .message(stored, noNotification: noNotification)
        self.encoded = encoded
    }

    /// Creates an event entry.
    public init(seq: Int64, event: ChatEvent) {
        self.seq = seq
        self.payload = .event(event)
    }

    /// The message, for a message entry.
    public var stored: StoredMessage? {
        if case .message(let m, _) = payload { return m }
        return nil
    }

    /// The event, for an event entry.
    public var event: ChatEvent? {
        if case .event(let e) = payload { return e }
        return nil
    }

    /// The gateway frame that delivers this entry.
    public var frame: ServerFrame {
        switch payload {
        case .message(let m, let quiet): return .message(.init(seq: seq, stored: m, noNotification: quiet))
        case .event(let e): return .event(.init(seq: seq, event: e))
        }
    }

    /// The JSON text of ``frame``: spliced from ``encoded`` when there is one, else encoded in full. Both give the
    /// same bytes.
    public func frameJSON() -> [UInt8] {
        if let encoded, case .message(_, let quiet) = payload {
            return encoded.frame(seq: seq, noNotification: quiet)
        }
        return frame.serialized()
    }

    /// Entries are equal when their sequence numbers and payloads are (``encoded`` is derived from the payload).
    public static func == (lhs: InboxEntry, rhs: InboxEntry) -> Bool {
        lhs.seq == rhs.seq && lhs.payload == rhs.payload
    }
}

/// What a caller asks of the message history: whose messages, which time range, how many.
public struct HistoryQuery: Sendable {
    /// The app whose messages are listed (as sender's or recipient's app).
    public var appKey: String
    /// Only messages sent or received by this username in that app, when set.
    public var username: String?
    /// Only messages to this group or chatroom, when set.
    public var conversation: (type: TargetType, id: String)?
    /// Earliest `msg_ctime` (ms), inclusive.
    public var beginTime: Int64
    /// Latest `msg_ctime` (ms), inclusive.
    public var endTime: Int64
    /// Page size.
    public var count: Int
    /// Only messages with a larger `msg_id` (the paging position).
    public var afterMsgID: Int64

    /// Creates a query.
    public init(appKey: String, username: String? = nil, conversation: (type: TargetType, id: String)? = nil,
                beginTime: Int64, endTime: Int64, count: Int, afterMsgID: Int64 = 0) {
        self.appKey = appKey
        self.username = username
        self.conversation = conversation
        self.beginTime = beginTime
        self.endTime = endTime
        self.count = count
        self.afterMsgID = afterMsgID
    }
}

/// One page of history: the total in the range and the messages of this page, ascending by time.
public struct HistoryPage: Sendable, Equatable {
    /// How many messages match the query's range in all.
    public var total: Int
    /// This page, ascending by `msg_ctime` then `msg_id`.
    public var messages: [StoredMessage]

    /// Creates a page.
    public init(total: Int, messages: [StoredMessage]) {
        self.total = total
        self.messages = messages
    }
}
