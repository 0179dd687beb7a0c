import Crypto
import Foundation
import HummingbirdBcrypt
import IMProtocol
import Logging
import NIOPosix
import Synchronization

/// The IM service: accounts, the rules of sending, durable messages and per-recipient inboxes.
///
/// ```swift
/// let hub = try await Hub(configuration: .init(apps: [app]), store: SQLiteHubStore(path: "hub.sqlite"))
/// let alice = try await hub.login(appKey: app.appKey, username: "alice", password: "secret")
/// let sent = try await hub.send(.init(targetID: "bob", body: .text("hi")), from: alice, platform: "web")
/// ```
public final class Hub: Sendable {
    /// What the hub is configured with: the apps and how hard passwords are hashed.
    public struct Configuration: Sendable {
        /// The apps this hub serves.
        public var apps: [AppSettings]
        /// bcrypt cost for new password hashes (4...31); 10 by default.
        public var passwordCost: UInt8
        /// Largest serialized `msg_body` in bytes; 4096 as in JMessage.
        public var maxBodyBytes: Int
        /// The clock, in milliseconds since 1970; tests move it by hand.
        public var clock: @Sendable () -> Int64
        /// Where the hub's counters go.
        public var metrics: HubMetrics
        /// How long a login token is accepted after it was issued (`Hub+LoginTokens.swift`); 7 days by default.
        public var loginTokenLifetime: Duration = .seconds(7 * 86_400)

        /// Creates a configuration.
        public init(apps: [AppSettings], passwordCost: UInt8 = 10, maxBodyBytes: Int = 4096,
                    clock: @escaping @Sendable () -> Int64 = Hub.nowMillis, metrics: HubMetrics = HubMetrics()) {
            self.metrics = metrics
            self.apps = apps
            self.passwordCost = passwordCost
            self.maxBodyBytes = maxBodyBytes
            self.clock = clock
        }
    }

    /// The durable store.
    public let store: any HubStore
    /// The notification bus that wakes sessions when their inbox grows.
    public let bus: any InboxNotificationBus
    /// The sessions open (on this node, with the in-process registry).
    public let presence: any PresenceRegistry
    let configuration: Configuration
    /// Where the hub's counters go (the gateway counts its frames there too).
    package var metrics: HubMetrics { configuration.metrics }
    /// The apps served: those of the configuration, then those created at run time (`Hub+RuntimeApps.swift`).
    var apps: [String: AppSettings] { appTable.withLock { $0.apps } }
    let appTable: Mutex<AppTable>
    let logger: Logger
    /// Each app's sensitive-word filter, read from the store on first use and dropped when it changes.
    let sensitiveCache = Mutex<[String: SensitiveFilter]>([:])

    /// Opens the hub on a store and records the configured apps in it; the bus and presence registry are the
    /// in-process ones of one node unless given.
    public init(configuration: Configuration, store: any HubStore, bus: any InboxNotificationBus = InboxBus(),
                presence: any PresenceRegistry = Presence(),
                logger: Logger = Logger(label: "mynah.hub")) async throws {
        self.configuration = configuration
        self.store = store
        self.bus = bus
        self.presence = presence
        self.logger = logger
        self.appTable = Mutex(AppTable(
            apps: Dictionary(configuration.apps.map { ($0.appKey, $0) }, uniquingKeysWith: { _, last in last })))
        try await store.syncApps(configuration.apps)
        try await loadRuntimeApps()
    }

    /// The hub's clock in milliseconds since 1970.
    public func now() -> Int64 { configuration.clock() }

    /// The current time in milliseconds since 1970.
    @Sendable public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    // MARK: Apps

    /// The settings of an app, if it is configured.
    public func app(_ appKey: String) -> AppSettings? {
        apps[appKey]
    }

    /// Checks a REST caller's AppKey and master secret; the secret is compared in constant time.
    public func authenticateApp(appKey: String, secret: String) throws(HubError) -> AppSettings {
        guard let app = apps[appKey] else {
            throw HubError(.appKeyNotFound, "appkey does not exist")
        }
        guard constantTimeEquals(app.masterSecret, secret) else {
            throw HubError(.authenticationFailed, "Basic authentication failed")
        }
        return app
    }

    // MARK: Accounts

    /// Registers accounts of one kind in an app; each element succeeds or fails on its own.
    public func register(appKey: String, _ users: [NewUser], kind: FromType) async -> [Result<User, HubError>] {
        var results: [Result<User, HubError>] = []
        results.reserveCapacity(users.count)
        for user in users {
            do {
                results.append(.success(try await register(appKey: appKey, user, kind: kind)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Registers one account; 899001 when the username is taken, 899003 for a bad username or password.
    public func register(appKey: String, _ user: NewUser, kind: FromType) async throws(HubError) -> User {
        guard apps[appKey] != nil else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        try Self.validate(username: user.username)
        try Self.validate(password: user.password)
        let hash = try await hashPassword(user.password)
        let inserted = try await storing {
            try await store.insertUser(appKey: appKey, username: user.username, kind: kind, passwordHash: hash,
                                       profile: user.profile, now: now())
        }
        guard let inserted else { throw HubError(.userExists, "user '\(user.username)' already exists") }
        return inserted
    }

    /// Makes sure a robot account exists with this password, as `bots.yaml` declares it: registers it when
    /// missing and resets its password when the configuration changed it. Fails when the name belongs to a
    /// user or an admin.
    public func ensureRobot(appKey: String, _ robot: NewUser) async throws(HubError) -> User {
        do {
            return try await register(appKey: appKey, robot, kind: .robot)
        } catch let e where e.code == .userExists {
            let existing = try await user(appKey: appKey, username: robot.username)
            guard existing.kind == .robot else {
                throw HubError(.userExists, "'\(robot.username)' already exists as a \(existing.kind.rawValue), not a robot")
            }
            let hash = try await storing { try await store.passwordHash(userID: existing.id) }
            if let hash, try await verifyPassword(robot.password, hash: hash) { return existing }
            let newHash = try await hashPassword(robot.password)
            try await storing { try await store.setPasswordHash(userID: existing.id, hash: newHash, now: now()) }
            return existing
        }
    }

    /// Validates a username the way JMessage does: 4-128 bytes, starting with a letter or digit, of `[A-Za-z0-9_.@-]`.
    public static func validate(username: String) throws(HubError) {
        let bytes = Array(username.utf8)
        guard (4...128).contains(bytes.count) else { throw HubError.invalid("username", "must be 4 to 128 bytes") }
        func isAlnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard isAlnum(bytes[0]) else { throw HubError.invalid("username", "must start with a letter or digit") }
        for b in bytes where !(isAlnum(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
                                || b == UInt8(ascii: "-") || b == UInt8(ascii: "@")) {
            throw HubError.invalid("username", "may contain only letters, digits and _ . - @")
        }
    }

    /// Validates a password: 4-128 bytes.
    public static func validate(password: String) throws(HubError) {
        guard (4...128).contains(password.utf8.count) else {
            throw HubError.invalid("password", "must be 4 to 128 bytes")
        }
    }

    /// The account with this username, or 899002.
    public func user(appKey: String, username: String) async throws(HubError) -> User {
        let found: User? = try await storing {
            try await store.user(appKey: appKey, username: username)
        }
        guard let found else { throw HubError.userNotFound(username, appKey: appKey) }
        return found
    }

    /// Checks a password; the same 899008 answers a wrong password and an unknown user.
    public func login(appKey: String, username: String, password: String) async throws(HubError) -> User {
        try await checkPassword(appKey: appKey, username: username, password: password).user
    }

    /// ``login(appKey:username:password:)`` that also answers the password hash it checked (login tokens sign it).
    func checkPassword(appKey: String, username: String,
                       password: String) async throws(HubError) -> (user: User, passwordHash: String) {
        guard apps[appKey] != nil else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        let failure = HubError(.authenticationFailed, "wrong username or password")
        guard let found = try await storing({ try await store.credentials(appKey: appKey, username: username) })
        else { throw failure }
        guard try await verifyPassword(password, hash: found.passwordHash) else { throw failure }
        guard !found.forbidden else { throw HubError(.userForbidden, "user '\(username)' is forbidden") }
        return (found.user, found.passwordHash)
    }

    /// What bcrypt sees of a password: bcrypt reads at most 72 bytes, so a longer password is first reduced to
    /// the base64 of its SHA-256, and every one of its bytes counts.
    static func bcryptInput(_ password: String) -> String {
        guard password.utf8.count > 72 else { return password }
        return Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    func hashPassword(_ password: String) async throws(HubError) -> String {
        let cost = configuration.passwordCost
        let input = Self.bcryptInput(password)
        return try await storing { try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) } }
    }

    func verifyPassword(_ password: String, hash: String) async throws(HubError) -> Bool {
        let input = Self.bcryptInput(password)
        return try await storing { try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: hash) } }
    }

    // MARK: Messages

    /// Records that a device of `user` logged in over the gateway and is online until `sessionClosed`; `end` closes
    /// the session's connection when an administrator ends it (``endSessions(appKey:username:device:)``).
    public func sessionOpened(_ user: User, device: String, platform: String,
                              end: (@Sendable () -> Void)? = nil) async throws(HubError) -> Presence.Token {
        try await storing { try await store.recordLogin(userID: user.id, device: device, platform: platform, now: now()) }
        configuration.metrics.sessionOpened()
        return presence.open(userID: user.id, device: device, platform: platform, end: end)
    }

    /// Records that a gateway session ended.
    public func sessionClosed(_ token: Presence.Token) {
        configuration.metrics.sessionClosed()
        presence.close(token)
    }

    /// Login and online state of an account and its devices.
    public func userStat(appKey: String, username: String) async throws(HubError) -> UserStat {
        let account = try await user(appKey: appKey, username: username)
        let known = try await storing { try await store.devices(userID: account.id) }
        let open = presence.sessions(userID: account.id)
        var devices = known.map { d in
            UserStat.Device(device: d.device, platform: d.platform, login: true,
                            online: open.contains { $0.device == d.device })
        }
        for session in open where !devices.contains(where: { $0.device == session.device }) {
            devices.append(.init(device: session.device, platform: session.platform, login: true, online: true))
        }
        return UserStat(login: !devices.isEmpty, online: !open.isEmpty, devices: devices)
    }

    /// Up to `limit` inbox entries of an account after `seq`.
    public func inbox(userID: Int64, after seq: Int64, limit: Int = 256) async throws(HubError) -> [InboxEntry] {
        return try await storing { try await store.inbox(userID: userID, after: seq, limit: limit, now: now()) }
    }

    /// Deletes inbox entries whose offline TTL has passed; returns how many.
    public func purgeExpired() async throws(HubError) -> Int {
        return try await storing { try await store.purgeExpired(now: now()) }
    }

    /// The acknowledged position of a device.
    public func cursor(userID: Int64, device: String) async throws(HubError) -> Int64 {
        return try await storing { try await store.cursor(userID: userID, device: device) }
    }

    /// Records that a device has everything up to `seq`.
    public func acknowledge(userID: Int64, device: String, seq: Int64) async throws(HubError) {
        try await storing { try await store.advanceCursor(userID: userID, device: device, to: seq) }
    }

    /// One page of message history.
    public func history(_ query: HistoryQuery) async throws(HubError) -> HistoryPage {
        return try await storing { try await store.history(query) }
    }

    /// Runs a store call; a failure becomes 899000, its cause logged rather than shown.
    func storing<T>(_ body: () async throws -> T) async throws(HubError) -> T {
        do {
            return try await body()
        } catch {
            throw storageFailure(error)
        }
    }

    func storageFailure(_ error: any Error) -> HubError {
        if let e = error as? HubError { return e }
        // A call cancelled at shutdown is not a storage failure worth an error line. GRDB reports a statement
        // interrupted by the cancellation as an SQLite error, hence the task's state too.
        if error is CancellationError || Task.isCancelled {
            logger.debug("store call cancelled", metadata: ["error": "\(error)"])
            return .cancelled
        }
        logger.error("storage failure", metadata: ["error": "\(error)"])
        return .storage
    }
}

/// Compares two secrets in time that depends only on their lengths, so a caller cannot learn a secret byte by byte.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return diff == 0
}

