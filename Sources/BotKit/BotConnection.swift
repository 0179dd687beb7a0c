import IMClient
import IMProtocol

/// A bot's link to a hub: its deliveries in, its sends out. The plugin code never knows which kind it is.
///
/// `IMClient` provides it over the gateway of the embedded hub or of a remote Mynah.
public protocol BotConnection: Sendable {
    /// The bot's inbox, in order; ends when the connection closes.
    var deliveries: AsyncStream<ServerFrame.Delivery> { get }
    /// Everything the connection reports, in order: deliveries and, once the gateway sends them, membership changes.
    var events: AsyncStream<ConnectionEvent> { get }
    /// Sends a message as the bot; returns once it is stored.
    func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent
    /// Acknowledges every delivery up to `seq`.
    func ack(_ seq: Int64)
    /// Closes the connection.
    func close()
}

/// Something a connection reports that may become a ``BotEvent``.
///
/// Gateway frames for group membership map to `membersJoined`/`membersLeft`; the bot turns them into events.
public enum ConnectionEvent: Sendable, Hashable {
    /// A message in the bot's inbox; acknowledged once the bot has dispatched it.
    case delivery(ServerFrame.Delivery)
    /// Users joined a group the bot is in.
    case membersJoined(MembershipChange)
    /// Users left a group the bot is in.
    case membersLeft(MembershipChange)
}

extension BotConnection {
    /// The deliveries as connection events, for connections that report nothing else.
    public var events: AsyncStream<ConnectionEvent> {
        let deliveries = self.deliveries
        return AsyncStream { continuation in
            let task = Task {
                for await delivery in deliveries { continuation.yield(.delivery(delivery)) }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension IMClient: BotConnection {
    /// The gateway's deliveries.
    public var deliveries: AsyncStream<ServerFrame.Delivery> { messages }
}
