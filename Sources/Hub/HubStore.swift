import IMProtocol

/// Everything the hub keeps durably: apps, accounts, messages, inboxes and acknowledgement cursors.
///
/// SQLite (`SQLiteHubStore`) implements it for one node; a PostgreSQL store implements it for several.
/// Every method is one transaction.
public protocol HubStore: AccountStore, GroupStore, RelationStore, ChatroomStore, ModerationStore, SendRuleStore {
    /// Records the configured apps so that accounts can refer to them.
    func syncApps(_ apps: [AppSettings]) async throws

    /// Inserts an account; returns `nil` when (appKey, username) is taken.
    func insertUser(appKey: String, username: String, kind: FromType, passwordHash: String, profile: Profile,
                    now: Int64) async throws -> User?

    /// The account with this username in this app, if any.
    func user(appKey: String, username: String) async throws -> User?

    /// The bcrypt hash of an account's password.
    func passwordHash(userID: Int64) async throws -> String?

    /// What a login checks of an account (the account, its password hash, whether it is forbidden), in one read
    /// where the store can: three round trips per login add up in a reconnect storm.
    func credentials(appKey: String, username: String) async throws -> LoginCredentials?

    /// Replaces an account's password hash.
    func setPasswordHash(userID: Int64, hash: String, now: Int64) async throws

    /// Stores a message and its recipients' inbox entries atomically, or returns the earlier result of the same request.
    func append(_ pending: PendingMessage) async throws -> AppendResult

    /// A single-chat send: reads what its rules need (as ``SendRuleStore/sendContext(senderID:recipient:)``), stores
    /// the message `decide` makes of that (or fails with `decide`'s error), and calls `done` after the commit, with
    /// the result's `quiet` set from the pending message. Returns once the send has its place in the store's order:
    /// sends submitted one after another are stored in that order, so a caller may submit the next one before the
    /// previous committed. A store that reads and appends separately (the default) returns after `done`.
    func submitSingle(senderID: Int64, recipient: (appKey: String, username: String),
                      decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                      done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) async

    /// Whether ``submitSingleNow(senderID:recipient:decide:done:)`` takes sends (false by default): asked before a
    /// caller prepares a send for it.
    var submitsSinglesNow: Bool { get }

    /// ``submitSingle(senderID:recipient:decide:done:)`` without a suspension, where the store's writer takes sends
    /// from any thread: returns false, having done nothing, where it cannot (the default), and the caller submits
    /// with the asynchronous call. A store whose ``submitsSinglesNow`` is true takes every send (returns true). The
    /// gateway takes a send on the event loop that read it this way.
    func submitSingleNow(senderID: Int64, recipient: (appKey: String, username: String),
                         decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                         done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) -> Bool

    /// Up to `limit` unexpired entries (at time `now`, ms) of a user's inbox with a sequence number above
    /// `after`, in order.
    func inbox(userID: Int64, after: Int64, limit: Int, now: Int64) async throws -> [InboxEntry]

    /// Deletes inbox entries that expired before `now` (ms); returns how many.
    func purgeExpired(now: Int64) async throws -> Int

    /// Records a login of a device of a user, with its platform, at `now` (ms).
    func recordLogin(userID: Int64, device: String, platform: String, now: Int64) async throws

    /// The devices a user has logged in from: device id and the platform of its last login, by device id.
    func devices(userID: Int64) async throws -> [(device: String, platform: String)]

    /// The highest sequence number acknowledged by a device of a user (0 when none).
    func cursor(userID: Int64, device: String) async throws -> Int64

    /// Moves a device's cursor forward to `seq` (never backward).
    func advanceCursor(userID: Int64, device: String, to seq: Int64) async throws

    /// One page of message history.
    func history(_ query: HistoryQuery) async throws -> HistoryPage

    // MARK: Receipts (the push bridge)

    /// The sequence number of the entry holding message `msgID` in a user's inbox, if it is there.
    func inboxSeq(userID: Int64, msgID: Int64) async throws -> Int64?

    /// Sets when one inbox entry expires (ms); the bridge gives a push its own time to live.
    func setInboxExpiry(userID: Int64, seq: Int64, expiresAt: Int64) async throws

    /// The highest sequence number any device of a user has acknowledged (0 when none).
    func highestCursor(userID: Int64) async throws -> Int64
}

/// What a login checks of an account (``HubStore/credentials(appKey:username:)``).
public struct LoginCredentials: Sendable {
    /// The account.
    public var user: User
    /// The bcrypt hash of its password.
    public var passwordHash: String
    /// Whether it is forbidden to log in and send.
    public var forbidden: Bool

    /// Creates credentials.
    public init(user: User, passwordHash: String, forbidden: Bool) {
        self.user = user
        self.passwordHash = passwordHash
        self.forbidden = forbidden
    }
}

extension HubStore {
    /// The account, its hash and its forbidden flag in three reads (a store with one read overrides this).
    public func credentials(appKey: String, username: String) async throws -> LoginCredentials? {
        guard let user = try await user(appKey: appKey, username: username),
              let hash = try await passwordHash(userID: user.id) else { return nil }
        return LoginCredentials(user: user, passwordHash: hash, forbidden: try await isForbidden(userID: user.id))
    }

    /// Not supported by default.
    public var submitsSinglesNow: Bool { false }

    /// Not supported: the caller submits with ``submitSingle(senderID:recipient:decide:done:)``.
    public func submitSingleNow(senderID: Int64, recipient: (appKey: String, username: String),
                                decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                                done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) -> Bool {
        false
    }

    /// Reads the send's context, then appends: one transaction each, and returns after `done` (so calls made one
    /// after another are stored in their order).
    public func submitSingle(senderID: Int64, recipient: (appKey: String, username: String),
                             decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                             done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) async {
        do {
            let context = try await sendContext(senderID: senderID, recipient: recipient)
            let pending = try decide(context)
            var result = try await append(pending)
            result.quiet = pending.quiet
            done(.success(result))
        } catch {
            done(.failure(error))
        }
    }
}

/// A message on its way into the store, with who gets an inbox entry.
public struct PendingMessage: Sendable {
    /// The message; the store assigns `msg_id` and `msg_ctime`.
    public var message: Message {
        didSet { messageJSON = message.serializedJSON() }
    }
    /// ``message`` as the JSON text the store keeps and deliveries splice: serialized once per message, not once
    /// by the store and again for the frames.
    public private(set) var messageJSON: [UInt8]
    /// The sending account (for idempotent requests).
    public var senderUserID: Int64
    /// The client's idempotency key, if any.
    public var requestID: String?
    /// The accounts that get an inbox entry.
    public var recipients: [Int64]
    /// The clock in milliseconds when the hub accepted it; the store keeps ids and times ascending together.
    public var now: Int64
    /// Recipients that should not be notified (no-disturb, or the message's `no_notification`).
    public var quiet: Set<Int64> = []
    /// When the inbox entries expire if undelivered (ms); `nil` never.
    public var expiresAt: Int64?

    /// Creates a pending message. `bodyJSON`, when given, is `message.body.json.serialized()` already made (the
    /// hub makes it before the writer's turn, to check the body's size).
    public init(message: Message, senderUserID: Int64, requestID: String?, recipients: [Int64], now: Int64,
                expiresAt: Int64? = nil, bodyJSON: [UInt8]? = nil) {
        self.message = message
        self.messageJSON = message.serializedJSON(bodyJSON: bodyJSON)
        self.senderUserID = senderUserID
        self.requestID = requestID
        self.recipients = recipients
        self.now = now
        self.expiresAt = expiresAt
    }
}

/// The outcome of `HubStore.append`.
public struct AppendResult: Sendable {
    /// The stored message with its id and time.
    public var stored: StoredMessage
    /// The inbox entries created: (account id, sequence number). Empty for a repeated request.
    public var entries: [(userID: Int64, seq: Int64)]
    /// True when the request id had been seen before and nothing new was stored.
    public var duplicate: Bool
    /// The recipients not to notify (the pending message's `quiet`), where the store reports them.
    public var quiet: Set<Int64> = []
    /// The stored message's JSON text (``PendingMessage/messageJSON``), where the store has it: the frames are
    /// spliced from it instead of serializing the message again.
    public var messageJSON: [UInt8]?

    /// Creates a result.
    public init(stored: StoredMessage, entries: [(userID: Int64, seq: Int64)], duplicate: Bool,
                messageJSON: [UInt8]? = nil) {
        self.stored = stored
        self.entries = entries
        self.duplicate = duplicate
        self.messageJSON = messageJSON
    }
}
