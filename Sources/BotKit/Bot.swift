import IMProtocol
import Logging

/// A bot: a robot account whose incoming messages go through its plugins, whose plugins' actions go out as
/// messages from the robot.
///
/// One plugin failing never stops the bot or its other plugins; messages from robots (itself included) are
/// ignored so that two bots never talk to each other in a loop.
public struct Bot: Sendable {
    /// The bot's name in `bots.yaml`.
    public var name: String
    /// The robot account's AppKey.
    public var appKey: String
    /// The robot account's username.
    public var username: String
    /// The plugins, in the order they see each event.
    public var plugins: [any Plugin]
    let logger: Logger

    /// Creates a bot.
    public init(name: String, appKey: String, username: String, plugins: [any Plugin],
                logger: Logger = Logger(label: "mynah.bot")) {
        self.name = name
        self.appKey = appKey
        self.username = username
        self.plugins = plugins
        var logger = logger
        logger[metadataKey: "bot"] = "\(name)"
        self.logger = logger
    }

    /// Serves one connection until it closes: each delivery goes through the plugins, then is acknowledged.
    public func serve(_ connection: any BotConnection) async {
        for await delivery in connection.deliveries {
            await handle(delivery, on: connection)
            connection.ack(delivery.seq)
        }
    }

    /// The event a delivery stands for, or `nil` when the bot ignores it (its own and other robots' messages).
    public func event(for delivery: ServerFrame.Delivery) -> BotEvent? {
        let m = delivery.stored.message
        if m.fromType == .robot { return nil }
        if m.fromID == username && (m.fromAppKey ?? appKey) == appKey { return nil }
        let conversation: Conversation
        switch m.targetType {
        case .single: conversation = Conversation(type: .single, id: m.fromID, appKey: m.fromAppKey)
        case .group, .chatroom: conversation = Conversation(type: m.targetType, id: m.targetID, appKey: m.targetAppKey)
        }
        return .message(IncomingMessage(stored: delivery.stored, conversation: conversation))
    }

    func handle(_ delivery: ServerFrame.Delivery, on connection: any BotConnection) async {
        guard let event = event(for: delivery) else { return }
        for plugin in plugins {
            let pluginName = type(of: plugin).pluginName
            do {
                let actions = try await plugin.handle(event)
                for action in actions {
                    try await perform(action, for: event, on: connection)
                }
            } catch {
                logger.error("plugin failed", metadata: ["plugin": "\(pluginName)", "error": "\(error)"])
            }
        }
    }

    func perform(_ action: BotAction, for event: BotEvent, on connection: any BotConnection) async throws {
        let (to, body): (Conversation, MessageBody)
        switch action {
        case .reply(let b):
            guard case .message(let m) = event else { return }
            (to, body) = (m.conversation, b)
        case .send(let c, let b):
            (to, body) = (c, b)
        }
        let targetAppKey = to.appKey.flatMap { $0 == appKey ? nil : $0 }
        _ = try await connection.send(.init(targetType: to.type, targetID: to.id, targetAppKey: targetAppKey, body: body))
    }
}
