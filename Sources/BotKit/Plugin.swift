import IMProtocol

/// A conversation a bot takes part in: a single chat with a user, or a group or chatroom.
public struct Conversation: Sendable, Hashable {
    /// Single, group or chatroom.
    public var type: TargetType
    /// The other user's username for a single chat; the gid or room id otherwise.
    public var id: String
    /// The AppKey of the other user (single chat) or of the group.
    public var appKey: String?

    /// Creates a conversation reference.
    public init(type: TargetType, id: String, appKey: String? = nil) {
        self.type = type
        self.id = id
        self.appKey = appKey
    }
}

/// A message that reached a bot: who sent it, in which conversation, and the message itself.
public struct IncomingMessage: Sendable, Hashable {
    /// The stored message with its id.
    public var stored: StoredMessage
    /// Where a reply goes: the sender for a single chat, the group for a group message.
    public var conversation: Conversation

    /// Creates an incoming message.
    public init(stored: StoredMessage, conversation: Conversation) {
        self.stored = stored
        self.conversation = conversation
    }

    /// The message envelope.
    public var message: Message { stored.message }
    /// The text, for text messages.
    public var text: String? { stored.message.body.text }
    /// The sender's username.
    public var sender: String { stored.message.fromID }
}

/// What happens to a bot that its plugins may react to.
public enum BotEvent: Sendable, Hashable {
    /// A single or group message addressed to the bot.
    case message(IncomingMessage)
}

/// What a plugin asks the bot to do in answer to an event.
public enum BotAction: Sendable, Hashable {
    /// Answer in the conversation the event came from.
    case reply(MessageBody)
    /// Send into any conversation.
    case send(to: Conversation, body: MessageBody)
}

/// A bot plugin written in Swift: built from its `bots.yaml` block, it turns events into actions.
///
/// ```swift
/// struct Shout: Plugin {
///     static let pluginName = "shout"
///     init(configuration: JSONValue) throws(ProtocolError) {}
///     func handle(_ event: BotEvent) async throws -> [BotAction] {
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
    /// Reacts to one event; the actions run in order. A thrown error is logged and skips this plugin only.
    func handle(_ event: BotEvent) async throws -> [BotAction]
}
