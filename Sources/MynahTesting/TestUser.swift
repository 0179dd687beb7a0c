import BotKit
import IMClient
import Synchronization

/// A group of a ``TestHub``: its gid and AppKey, and the conversation a bot replies into.
public struct TestGroup: Sendable, Hashable {
    /// The group's id, as messages and bots spell it.
    public let gid: String
    /// The group's AppKey.
    public let appKey: String

    /// Creates a reference to group `gid` of `appKey`.
    public init(gid: String, appKey: String) {
        self.gid = gid
        self.appKey = appKey
    }

    /// The group as a bot's ``BotKit/Conversation``.
    public var conversation: Conversation { .group(gid, appKey: appKey) }
}

/// A user logged in to the hub over its real WebSocket gateway (an ``IMClient``): sends messages and awaits the
/// ones delivered to it, each with a deadline and acknowledged once taken.
///
/// ```swift
/// let alice = try await hub.user("alice")
/// #expect(try await alice.ask("/help", to: "greeter_bot") == "Commands: ...")
/// ```
public final class TestUser: Sendable {
    /// How long ``next(within:)`` and its kin wait by default: long, since a deadline only turns a hang into a
    /// failure that says what was awaited, and a loaded machine (a whole suite in parallel on two cores) is slow.
    public static let defaultDeadline: Duration = .seconds(60)

    /// The user's username.
    public let username: String
    /// The user's AppKey.
    public let appKey: String
    /// The gateway client, for anything this type does not wrap (events, reconnects, receipts).
    public let client: IMClient
    private let mailbox = Mailbox()
    private let pump: Task<Void, Never>

    /// Wraps a logged-in client: its messages are read from now on and kept until the test takes them.
    public init(client: IMClient, username: String, appKey: String) {
        self.client = client
        self.username = username
        self.appKey = appKey
        let mailbox = self.mailbox
        pump = Task {
            for await delivery in client.messages { mailbox.put(delivery) }
            mailbox.finish()
        }
    }

    deinit {
        pump.cancel()
    }

    /// Sends `text` to the user (or bot) `username`, of `appKey` when it is another app's; returns once stored.
    @discardableResult
    public func send(_ text: String, to username: String, appKey: String? = nil) async throws -> ServerFrame.Sent {
        try await send(.text(text), to: .single(username, appKey: appKey))
    }

    /// Sends `text` into `group`; returns once stored.
    @discardableResult
    public func send(_ text: String, in group: TestGroup) async throws -> ServerFrame.Sent {
        try await send(.text(text), to: group.conversation)
    }

    /// Sends any body into any conversation; returns once stored.
    @discardableResult
    public func send(_ body: MessageBody, to conversation: Conversation) async throws -> ServerFrame.Sent {
        let appKey = conversation.appKey.flatMap { $0 == self.appKey ? nil : $0 }
        return try await client.send(.init(targetType: conversation.type, targetID: conversation.id,
                                           targetAppKey: appKey, body: body))
    }

    /// The next delivery to this user, acknowledged; throws ``TestTimeout`` when none comes within `limit`.
    public func nextDelivery(within limit: Duration = defaultDeadline) async throws -> ServerFrame.Delivery {
        let mailbox = self.mailbox, username = self.username
        let delivery = try await within(limit, "message for \(username)") {
            guard let delivery = await mailbox.next() else {
                throw TestTimeout(what: "message for \(username) (the connection closed)", limit: limit)
            }
            return delivery
        }
        client.ack(delivery.seq)
        return delivery
    }

    /// The next message to this user (see ``nextDelivery(within:)``).
    public func nextMessage(within limit: Duration = defaultDeadline) async throws -> Message {
        try await nextDelivery(within: limit).stored.message
    }

    /// The next message's text, or `<type>` for a body that is not text.
    public func next(within limit: Duration = defaultDeadline) async throws -> String {
        let body = try await nextMessage(within: limit).body
        return body.text ?? "<\(body.type)>"
    }

    /// The texts of the next `count` messages, in whatever order they came (replies of several plugins or bots).
    public func next(_ count: Int, within limit: Duration = defaultDeadline) async throws -> Set<String> {
        var texts = Set<String>()
        for _ in 0..<count { texts.insert(try await nextMessage(within: limit).body.text ?? "") }
        return texts
    }

    /// Sends `text` to `username` and returns the text of the next message that arrives: a bot's answer.
    public func ask(_ text: String, to username: String, appKey: String? = nil,
                    within limit: Duration = defaultDeadline) async throws -> String {
        try await send(text, to: username, appKey: appKey)
        return try await next(within: limit)
    }

    /// Logs out: closes the client's connection.
    public func close() {
        client.close()
        pump.cancel()
    }
}

/// Deliveries read from the client and not yet taken by the test, and the one waiter for the next.
final class Mailbox: Sendable {
    private struct State {
        var buffer: [ServerFrame.Delivery] = []
        var waiter: (id: UInt64, continuation: CheckedContinuation<ServerFrame.Delivery?, Never>)?
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())

    func put(_ delivery: ServerFrame.Delivery) {
        let waiter = state.withLock { s -> CheckedContinuation<ServerFrame.Delivery?, Never>? in
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter.continuation
            }
            s.buffer.append(delivery)
            return nil
        }
        waiter?.resume(returning: delivery)
    }

    func finish() {
        let waiter = state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    /// The next delivery, or `nil` once the client's stream ended (or the wait was cancelled).
    func next() async -> ServerFrame.Delivery? {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<ServerFrame.Delivery?, Never>) in
                let now = state.withLock { s -> ServerFrame.Delivery?? in
                    if !s.buffer.isEmpty { return .some(s.buffer.removeFirst()) }
                    if s.finished || Task.isCancelled { return .some(nil) }
                    s.waiter = (id, c)
                    return .none
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<ServerFrame.Delivery?, Never>? in
                guard let waiter = s.waiter, waiter.id == id else { return nil }
                s.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: nil)
        }
    }
}
