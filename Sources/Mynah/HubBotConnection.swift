import BotKit
import Hub
import IMClient
import IMProtocol
import Logging
import Synchronization

/// A bot's connection to the hub of its own daemon, in process: no socket, no frames, nothing encoded or parsed.
///
/// It is a gateway session without the gateway, made of the same Hub calls: the robot logs in with its password
/// (only a robot account may connect this way), its device is recorded and counted online (`userstat`), its inbox
/// is read by ``InboxReader`` from the device's acknowledged position (the backlog from the store, then live
/// entries from the bus, each once, in order), its acknowledgements are stored by an ``AckWriter`` like a
/// session's, and its sends go through ``Hub/send(_:from:platform:noNotification:)`` with every rule of the hub.
/// Failures have the shapes `IMClient` gives them (``IMClient/Failure``), so a bot cannot tell the two apart.
///
/// The inbox is handed over at most `window` entries ahead of the bot's acknowledgements, so a long backlog is
/// read from the store as the bot works through it rather than all at once. Live entries reach the bot's inbox from
/// the bus's call itself (a ``DirectInbox``) while the reading task is caught up and the window has room, as a
/// gateway session's reach its socket: no task is woken per delivery.
final class HubBotConnection: BotConnection {
    private struct State {
        /// How many entries may wait for the bot's acknowledgement.
        let window: Int64
        /// The highest sequence number handed to the inbox.
        var delivered: Int64
        /// The highest sequence number acknowledged.
        var acknowledged: Int64
        /// The feed waiting for the bot to acknowledge (the window is full).
        var waiting: CheckedContinuation<Void, Never>?
        var feed: Task<Void, Never>?
        var subscription: InboxSubscription?
        var presence: Presence.Token?
        var closed = false

        /// Whether fewer than `window` entries wait for the bot's acknowledgement.
        var hasRoom: Bool { delivered - acknowledged < window }
    }

    /// The robot account this connection speaks for.
    let user: User
    /// The device whose cursor the acknowledgements move.
    let device: String
    /// The platform reported as `from_platform` of the robot's messages.
    let platform: String
    /// The bot's inbox, in order; ends on ``close()`` or when the store fails. One consumer.
    let inbox: AsyncStream<ConnectionEvent>
    private let continuation: AsyncStream<ConnectionEvent>.Continuation
    private let hub: Hub
    private let acks = AckWriter()
    private let state: Mutex<State>
    private let logger: Logger

    /// Logs the robot in to `hub` and starts reading its inbox after `since` (by default after the device's
    /// acknowledged position). Fails with the hub's error: a wrong password, a forbidden account, or an account
    /// that is not a robot (899016).
    static func open(hub: Hub, appKey: String, username: String, password: String, device: String = "bot",
                     platform: String = "api", since: Int64? = nil, window: Int = 1024, backlogBatch: Int = 256,
                     logger: Logger) async throws(HubError) -> HubBotConnection {
        let user = try await hub.login(appKey: appKey, username: username, password: password)
        guard user.kind == .robot else {
            throw HubError(.senderNotPermitted,
                           "username: '\(username)' is a \(user.kind.rawValue), not a robot; only robots connect as bots")
        }
        let resumeAfter: Int64
        if let since {
            resumeAfter = since
        } else {
            resumeAfter = try await hub.cursor(userID: user.id, device: device)
        }
        let presence = try await hub.sessionOpened(user, device: device, platform: platform)
        let connection = HubBotConnection(hub: hub, user: user, device: device, platform: platform,
                                          position: resumeAfter, presence: presence, window: window, logger: logger)
        // Subscribe before reading the backlog so that nothing committed in between is missed. The live inbox
        // hands nothing to the bot until the task has read the backlog and hands over.
        let live = DirectInbox(sink: BotSink(connection: connection))
        let subscription = hub.bus.subscribe(userID: user.id, receiver: live)
        connection.start(live: live, subscription: subscription, after: resumeAfter, batch: backlogBatch)
        return connection
    }

    private init(hub: Hub, user: User, device: String, platform: String, position: Int64, presence: Presence.Token,
                 window: Int, logger: Logger) {
        self.hub = hub
        self.user = user
        self.device = device
        self.platform = platform
        self.logger = logger
        (inbox, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
        state = Mutex(State(window: Int64(max(window, 1)), delivered: position, acknowledged: position,
                                 presence: presence))
    }

    private func start(live: DirectInbox<BotSink>, subscription: InboxSubscription, after: Int64, batch: Int) {
        let feed = Task { [hub, user, logger] in
            var reader = InboxReader(hub: hub, userID: user.id, after: after, feed: DirectInbox.Feed(live: live),
                                     batch: batch)
            do {
                while let entry = try await reader.next() {
                    guard await self.room(for: entry.seq) else { break }
                    continuation.yield(Self.event(entry))
                }
            } catch {
                if !Task.isCancelled {
                    logger.error("reading the bot's inbox failed; closing its connection", metadata: ["error": "\(error)"])
                }
            }
            self.close()
        }
        let closed = state.withLock { s in
            s.feed = feed
            s.subscription = subscription
            return s.closed
        }
        if closed {
            feed.cancel()
            subscription.cancel()
        }
    }

    /// The bot's inbox as a ``DirectInboxSink``: it takes an entry while the window has room.
    struct BotSink: DirectInboxSink {
        weak var connection: HubBotConnection?

        /// Whether the connection is open and fewer than `window` entries wait for the bot's acknowledgement.
        var canTake: Bool {
            guard let connection else { return false }
            return connection.state.withLock { !$0.closed && $0.hasRoom }
        }

        /// Counts the entry delivered and hands it to the bot's inbox.
        func take(_ entry: InboxEntry) {
            guard let connection else { return }
            connection.state.withLock { $0.delivered = entry.seq }
            connection.continuation.yield(HubBotConnection.event(entry))
        }
    }

    /// Waits until `seq` is within the window of the bot's acknowledgements, then counts it delivered; `false`
    /// once the connection is closed.
    private func room(for seq: Int64) async -> Bool {
        while true {
            let ready: Bool? = state.withLock { s in
                if s.closed { return false }
                if s.hasRoom {
                    s.delivered = seq
                    return true
                }
                return nil
            }
            if let ready { return ready }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resume = state.withLock { s in
                    if s.closed || s.hasRoom { return true }
                    s.waiting = c
                    return false
                }
                if resume { c.resume() }
            }
        }
    }

    /// The bot-facing form of an inbox entry: what `IMClient` makes of the entry's frame, without the frame.
    static func event(_ entry: InboxEntry) -> ConnectionEvent {
        switch entry.payload {
        case .message(let stored, let quiet):
            .delivery(ServerFrame.Delivery(seq: entry.seq, stored: stored, noNotification: quiet))
        case .event(let event):
            ConnectionEvent(ServerFrame.EventDelivery(seq: entry.seq, event: event))
        }
    }

    /// Sends as the robot through the hub's send path; returns once the message is stored. A refusal throws
    /// ``IMClient/Failure/rejected(_:)`` with the hub's code, a closed connection
    /// ``IMClient/Failure/connectionClosed``, as over the gateway.
    func send(_ message: ClientFrame.Send) async throws -> ServerFrame.Sent {
        guard !state.withLock({ $0.closed }) else { throw IMClient.Failure.connectionClosed }
        do {
            let stored = try await hub.send(message, from: user, platform: platform)
            return ServerFrame.Sent(id: message.id, msgID: stored.msgID, msgCtime: stored.msgCtime)
        } catch {
            throw IMClient.Failure.rejected(ServerFrame.Failure(id: message.id, code: error.code, message: error.message))
        }
    }

    /// Acknowledges every entry up to `seq` (stored by one coalescing writer); a `seq` beyond the last entry
    /// handed to the inbox is refused and logged, as the gateway refuses it.
    func ack(_ seq: Int64) {
        let (accepted, last, wake) = state.withLock { s -> (Bool, Int64, CheckedContinuation<Void, Never>?) in
            guard seq <= s.delivered else { return (false, s.delivered, nil) }
            s.acknowledged = max(s.acknowledged, seq)
            guard s.hasRoom, let waiting = s.waiting else { return (true, s.delivered, nil) }
            s.waiting = nil
            return (true, s.delivered, waiting)
        }
        wake?.resume()
        guard accepted else {
            logger.error("acknowledgement refused", metadata: ["seq": "\(seq)", "reason": "beyond the last delivered entry \(last)"])
            return
        }
        acks.request(seq) { [hub, user, device, logger] seq in
            do {
                try await hub.acknowledge(userID: user.id, device: device, seq: seq)
            } catch {
                // The cursor stays where it was: at worst entries are delivered again on the next connection.
                logger.error("acknowledgement not stored", metadata: ["seq": "\(seq)", "error": "\(error)"])
            }
        }
    }

    /// Closes the connection: the inbox ends, sends fail with `connectionClosed`, the robot's session ends
    /// (``Hub/sessionClosed(_:)``). Acknowledgements already requested are still stored (``acknowledgementsStored()``).
    func close() {
        let (feed, subscription, waiting, presence) = state.withLock { s in
            s.closed = true
            defer { s.feed = nil; s.subscription = nil; s.waiting = nil; s.presence = nil }
            return (s.feed, s.subscription, s.waiting, s.presence)
        }
        subscription?.cancel()
        feed?.cancel()
        waiting?.resume()
        continuation.finish()
        if let presence { hub.sessionClosed(presence) }
    }

    /// Returns once every acknowledgement requested so far is stored, so the next connection of the device
    /// resumes after it.
    func acknowledgementsStored() async {
        await acks.stored(through: acks.requested)
    }
}
