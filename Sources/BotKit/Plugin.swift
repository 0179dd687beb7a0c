import IMProtocol

/// A conversation a bot takes part in: a single chat with a user, or a group or chatroom.
public struct Conversation: Sendable, Hashable {
    /// Single, group or chatroom.
    public var type: TargetType
    /// The other user's username for a single chat; the gid or room id otherwise.
    public var id: String
    /// The AppKey of the other user (single chat) or of the group; `nil` means the bot's own AppKey.
    public var appKey: String?

    /// Creates a conversation reference.
    public init(type: TargetType, id: String, appKey: String? = nil) {
        self.type = type
        self.id = id
        self.appKey = appKey
    }

    /// A single chat with `username`.
    public static func single(_ username: String, appKey: String? = nil) -> Conversation {
        Conversation(type: .single, id: username, appKey: appKey)
    }

    /// A group chat.
    public static func group(_ gid: String, appKey: String? = nil) -> Conversation {
        Conversation(type: .group, id: gid, appKey: appKey)
    }
}

/// A message that reached a bot: who sent it, in which conversation, whom it mentions and, when it is a command
/// one of the bot's plugins declared, the parsed command.
public struct IncomingMessage: Sendable, Hashable {
    /// The stored message with its id.
    public var stored: StoredMessage
    /// Where a reply goes: the sender for a single chat, the group for a group message.
    public var conversation: Conversation
    /// The usernames the message mentions: `@name` words of a text and the `mentions` list of the body's extras.
    public var mentions: [String]
    /// Whether the bot itself is mentioned.
    public var mentionsBot: Bool
    /// The command, when the text invokes one a plugin of the bot declared and it parsed.
    public var command: ParsedCommand?

    /// Creates an incoming message.
    public init(stored: StoredMessage, conversation: Conversation, mentions: [String] = [], mentionsBot: Bool = false,
                command: ParsedCommand? = nil) {
        self.stored = stored
        self.conversation = conversation
        self.mentions = mentions
        self.mentionsBot = mentionsBot
        self.command = command
    }

    /// The message envelope.
    public var message: Message { stored.message }
    /// The typed body.
    public var body: MessageBody { stored.message.body }
    /// The text, for text messages.
    public var text: String? { stored.message.body.text }
    /// The sender's username.
    public var sender: String { stored.message.fromID }
    /// The sender's AppKey.
    public var senderAppKey: String? { stored.message.fromAppKey }
}

/// Users joining or leaving a group: the conversation and the usernames.
public struct MembershipChange: Sendable, Hashable {
    /// The group.
    public var conversation: Conversation
    /// The members who joined or left.
    public var usernames: [String]

    /// Creates a membership change.
    public init(conversation: Conversation, usernames: [String]) {
        self.conversation = conversation
        self.usernames = usernames
    }
}

/// A scheduled tick: the schedule that fired and the minute it fired for.
public struct Tick: Sendable, Hashable {
    /// The schedule's name, as the plugin declared it.
    public var schedule: String
    /// The time the schedule was due, in milliseconds since 1970.
    public var scheduledAt: Int64

    /// Creates a tick.
    public init(schedule: String, scheduledAt: Int64) {
        self.schedule = schedule
        self.scheduledAt = scheduledAt
    }
}

/// What happens to a bot that its plugins may react to: the one event vocabulary of every plugin kind
/// (its JSON form is in `docs/plugins.md`).
public enum BotEvent: Sendable, Hashable {
    /// A single or group message addressed to the bot.
    case message(IncomingMessage)
    /// Users joined a group the bot is in.
    case membersJoined(MembershipChange)
    /// Users left a group the bot is in.
    case membersLeft(MembershipChange)
    /// The bot is online (sent once per start, after the first login, and to plugins added by a reload).
    case started
    /// A schedule of the plugin fired.
    case tick(Tick)

    /// The conversation the event belongs to, if any: where `reply` goes.
    public var conversation: Conversation? {
        switch self {
        case .message(let m): m.conversation
        case .membersJoined(let c), .membersLeft(let c): c.conversation
        case .started, .tick: nil
        }
    }
}

/// What a plugin asks the bot to do in answer to an event: the one action vocabulary of every plugin kind.
public enum BotAction: Sendable, Hashable {
    /// Answer in the conversation the event came from (text, image, file or any other body).
    case reply(MessageBody)
    /// Send into any conversation; one in another AppKey goes through the hub's cross-app rule, or through the
    /// bot named `via` (a bot of this daemon in that AppKey that allows it with `accept_relay_from`). `requestID`
    /// makes the send idempotent: the same id from the same plugin of the same bot is stored once, whichever node
    /// sends it and however often (a reminder fired again after its node died). Without one, a send in answer to
    /// an inbox entry or a tick gets an id from the entry (or tick) and its place among the actions.
    case send(to: Conversation, body: MessageBody, via: String? = nil, requestID: String? = nil)
    /// Stores `value` under `key` in the plugin's durable key-value data; `null` deletes the key.
    case store(key: String, value: JSONValue)
    /// Uploads a file and sends it as an image or file message, to `to` or, when `nil`, into the event's
    /// conversation.
    case attach(Attachment, to: Conversation? = nil)
}

/// A bot plugin written in Swift: built from its `bots.yaml` block, it turns events into actions.
///
/// ```swift
/// struct Shout: Plugin {
///     static let pluginName = "shout"
///     init(configuration: JSONValue) throws(ProtocolError) {}
///     func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
///         guard case .message(let m) = event, let text = m.text else { return [] }
///         return [.reply(.text(text.uppercased()))]
///     }
/// }
/// ```
public protocol Plugin: Sendable {
    /// The name that selects this plugin in `bots.yaml` (`- swift: echo`).
    static var pluginName: String { get }
    /// Builds the plugin from its `config` block; a bad field throws with its path inside the block.
    init(configuration: JSONValue) throws(ProtocolError)
    /// The commands the plugin declares: parsing, help and the access check all come from these.
    var commands: [CommandSpec] { get }
    /// The cron schedules whose ticks the plugin receives.
    var schedules: [Schedule] { get }
    /// Reacts to one event; the actions run in order. A thrown error is logged and skips this plugin only.
    func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction]
}

extension Plugin {
    /// No commands.
    public var commands: [CommandSpec] { [] }
    /// No schedules.
    public var schedules: [Schedule] { [] }
}
