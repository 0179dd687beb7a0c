import IMClient
import IMProtocol

/// A bot's link to a hub: its inbox in, its sends out. The plugin code never knows which kind it is.
///
/// `IMClient` provides it over the gateway of the embedded hub or of a remote Mynah.
public protocol BotConnection: Sendable {
    /// Everything in the bot's inbox, in order: messages and group membership changes; ends when the connection
    /// closes.
    var inbox: AsyncStream<ConnectionEvent> { get }
    /// Sends a message as the bot; returns once it is stored.
    func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent
    /// Acknowledges every inbox entry up to `seq`.
    func ack(_ seq: Int64)
    /// Closes the connection.
    func close()
}

/// One inbox entry as a bot sees it: a message, a membership change, or something bots do not act on.
///
/// Every case carries its sequence number, so the bot acknowledges each entry once its plugins are done with it.
public enum ConnectionEvent: Sendable, Hashable {
    /// A message in the bot's inbox.
    case delivery(ServerFrame.Delivery)
    /// Users joined a group the bot is in (a group's creation is not a join: its first members are not announced).
    case membersJoined(MembershipChange, seq: Int64)
    /// Users left or were removed from a group the bot is in.
    case membersLeft(MembershipChange, seq: Int64)
    /// An event bots do not act on (friends, retractions, group updates); only acknowledged.
    case other(seq: Int64)

    /// The entry's position in the inbox.
    public var seq: Int64 {
        switch self {
        case .delivery(let d): d.seq
        case .membersJoined(_, let seq), .membersLeft(_, let seq), .other(let seq): seq
        }
    }

    /// The bot-facing form of a gateway event: membership changes of a group become `membersJoined` and
    /// `membersLeft`; anything else is `other`.
    public init(_ delivery: ServerFrame.EventDelivery) {
        let event = delivery.event
        guard let gid = event.gid else {
            self = .other(seq: delivery.seq)
            return
        }
        let change = MembershipChange(conversation: .group(String(gid), appKey: event.appKey),
                                      usernames: event.usernames)
        switch event.kind {
        case .groupMembersAdded: self = .membersJoined(change, seq: delivery.seq)
        case .groupMembersRemoved: self = .membersLeft(change, seq: delivery.seq)
        default: self = .other(seq: delivery.seq)
        }
    }
}

extension IMClient: BotConnection {
    /// The client's inbox as connection events: in inbox order with `IMClient.Configuration.combinedInbox` (as
    /// the daemon's bots connect); otherwise `messages` and `events` merged, each in order but not with each other.
    public var inbox: AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
        let entries = self.entries, messages = self.messages, events = self.events, combined = isCombinedInbox
        let task = Task {
            if combined {
                for await entry in entries {
                    switch entry {
                    case .message(let delivery): continuation.yield(.delivery(delivery))
                    case .event(let event): continuation.yield(ConnectionEvent(event))
                    }
                }
            } else {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { for await delivery in messages { continuation.yield(.delivery(delivery)) } }
                    group.addTask { for await event in events { continuation.yield(ConnectionEvent(event)) } }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
