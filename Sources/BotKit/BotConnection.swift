import IMClient
import IMProtocol

/// A bot's link to a hub: its deliveries in, its sends out. The plugin code never knows which kind it is.
///
/// `IMClient` provides it over the gateway; the daemon may provide an in-process one.
public protocol BotConnection: Sendable {
    /// The bot's inbox, in order; ends when the connection closes.
    var deliveries: AsyncStream<ServerFrame.Delivery> { get }
    /// Sends a message as the bot; returns once it is stored.
    func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent
    /// Acknowledges every delivery up to `seq`.
    func ack(_ seq: Int64)
    /// Closes the connection.
    func close()
}

extension IMClient: BotConnection {
    /// The gateway's deliveries.
    public var deliveries: AsyncStream<ServerFrame.Delivery> { messages }
}
