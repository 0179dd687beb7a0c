import Synchronization

/// Which accounts have a session open, and from which device and platform; `userstat` reads it. A seam for
/// scale-out: ``Presence`` is the in-process registry of one node; several nodes share one through their store.
public protocol PresenceRegistry: Sendable {
    /// Records an open session of `userID`; the token removes it. `end`, when given, closes the session's connection
    /// (the console's "end session").
    func open(userID: Int64, device: String, platform: String, end: (@Sendable () -> Void)?) -> Presence.Token
    /// Ends the open sessions of `userID` (of `device` only, when given) that can be ended; how many were.
    func end(userID: Int64, device: String?) -> Int
    /// Forgets a session.
    func close(_ token: Presence.Token)
    /// The open sessions of `userID`.
    func sessions(userID: Int64) -> [Presence.Session]
    /// How many sessions are open, of every account (the console's dashboard).
    var sessionCount: Int { get }
}

/// The in-process ``PresenceRegistry``: which accounts have a gateway session open on this node.
public final class Presence: PresenceRegistry {
    /// One open session.
    public struct Session: Sendable, Hashable {
        /// The client's device id.
        public var device: String
        /// The client's platform (`a`, `i`, `w`, `web`, `api`).
        public var platform: String

        /// Creates a session record.
        public init(device: String, platform: String) {
            self.device = device
            self.platform = platform
        }
    }

    /// Identifies one registration, to remove it when the session ends.
    public struct Token: Sendable, Hashable {
        /// The account of the session.
        public let userID: Int64
        /// The registration, unique within its registry.
        public let id: Int

        /// Creates a token (for registries other than ``Presence``).
        public init(userID: Int64, id: Int) {
            self.userID = userID
            self.id = id
        }
    }

    private struct State {
        var nextID = 0
        var sessions: [Int64: [Int: Session]] = [:]
        var enders: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Creates an empty registry.
    public init() {}

    /// Records an open session of `userID`; `end` closes its connection.
    public func open(userID: Int64, device: String, platform: String, end: (@Sendable () -> Void)? = nil) -> Token {
        state.withLock { s in
            s.nextID += 1
            s.sessions[userID, default: [:]][s.nextID] = Session(device: device, platform: platform)
            if let end { s.enders[s.nextID] = end }
            return Token(userID: userID, id: s.nextID)
        }
    }

    /// Ends the sessions of `userID` (of `device` only, when given) that registered a way to end them; the connection
    /// closes, and the session's own `close` removes it.
    public func end(userID: Int64, device: String?) -> Int {
        let enders = state.withLock { s -> [@Sendable () -> Void] in
            (s.sessions[userID] ?? [:]).compactMap { id, session in
                device == nil || session.device == device ? s.enders.removeValue(forKey: id) : nil
            }
        }
        enders.forEach { $0() }
        return enders.count
    }

    /// Forgets a session.
    public func close(_ token: Token) {
        state.withLock { s in
            s.enders[token.id] = nil
            s.sessions[token.userID]?[token.id] = nil
            if s.sessions[token.userID]?.isEmpty == true { s.sessions[token.userID] = nil }
        }
    }

    /// How many sessions are open on this node, of every account.
    public var sessionCount: Int {
        state.withLock { s in s.sessions.values.reduce(0) { $0 + $1.count } }
    }

    /// The open sessions of `userID`.
    public func sessions(userID: Int64) -> [Session] {
        state.withLock { s in s.sessions[userID].map { Array($0.values) } ?? [] }
    }
}

/// Login and online state of an account and of each device it has logged in from, as `userstat` reports it.
public struct UserStat: Sendable, Equatable {
    /// One device of the account.
    public struct Device: Sendable, Equatable {
        /// The device id given at login.
        public var device: String
        /// The platform of its last login.
        public var platform: String
        /// The device has logged in at least once.
        public var login: Bool
        /// The device has a gateway session open now.
        public var online: Bool
    }

    /// The account has logged in from some device at least once.
    public var login: Bool
    /// The account has at least one gateway session open now.
    public var online: Bool
    /// Every device the account has logged in from, by device id.
    public var devices: [Device]
}
