import Foundation
import Synchronization

/// Who a browser session belongs to.
enum ConsolePrincipal: Sendable, Equatable {
    /// Signed in with an app's AppKey and master secret: that app only.
    case app(String)
    /// An operator of `bots.yaml`: every app.
    case `operator`(String)
    /// A user of an app, signed in to `/chat`: the chat's media calls of that app only.
    case user(appKey: String, username: String)

    /// Whether this principal may manage the app `appKey` in the console.
    func manages(_ appKey: String) -> Bool {
        switch self {
        case .app(let key): key == appKey
        case .operator: true
        case .user: false
        }
    }
}

/// The browser sessions of the console and the chat, in memory (a restart signs everyone out), with the sign-in
/// failure limit.
///
/// A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie, plus a second random token the page
/// reads from the sign-in answer and sends back in `X-CSRF-Token` with every change.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var principal: ConsolePrincipal
        var csrf: String
        var expires: ContinuousClock.Instant
    }

    private struct Failures {
        var count: Int
        var windowStart: ContinuousClock.Instant
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let failures = Mutex<[String: Failures]>([:])
    let ttl: Duration
    let maxFailures: Int
    let failureWindow: Duration
    /// At most this many sessions at once; the oldest expiring go first.
    static let maxSessions = 10_000
    /// All failed sign-ins of a window together, whatever the name: guessing across names is limited too.
    static let maxTotalFailures = 200

    init(ttl: Duration, maxFailures: Int, failureWindow: Duration) {
        self.ttl = ttl
        self.maxFailures = maxFailures
        self.failureWindow = failureWindow
    }

    /// A new session for `principal`: its cookie id and its CSRF token.
    func open(_ principal: ConsolePrincipal) -> (id: String, csrf: String) {
        let id = Self.token()
        let csrf = Self.token()
        let now = ContinuousClock.now
        sessions.withLock { s in
            s = s.filter { $0.value.expires > now }
            if s.count >= Self.maxSessions, let oldest = s.min(by: { $0.value.expires < $1.value.expires }) {
                s[oldest.key] = nil
            }
            s[id] = Session(principal: principal, csrf: csrf, expires: now + ttl)
        }
        return (id, csrf)
    }

    /// The live session of this id, its lifetime renewed.
    func session(_ id: String) -> Session? {
        let now = ContinuousClock.now
        return sessions.withLock { s in
            guard var session = s[id] else { return nil }
            guard session.expires > now else {
                s[id] = nil
                return nil
            }
            session.expires = now + ttl
            s[id] = session
            return session
        }
    }

    /// Ends a session.
    func close(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// Whether another sign-in for `name` may be tried now.
    func mayTry(_ name: String) -> Bool {
        let now = ContinuousClock.now
        return failures.withLock { f in
            f = f.filter { now - $0.value.windowStart < failureWindow }
            let total = f.values.reduce(0) { $0 + $1.count }
            return (f[name]?.count ?? 0) < maxFailures && total < Self.maxTotalFailures
        }
    }

    /// Counts a failed sign-in for `name`.
    func failed(_ name: String) {
        let now = ContinuousClock.now
        failures.withLock { f in
            if let entry = f[name], now - entry.windowStart < failureWindow {
                f[name]?.count += 1
            } else {
                f[name] = Failures(count: 1, windowStart: now)
            }
        }
    }

    /// Forgets the failures of `name` after it signed in.
    func succeeded(_ name: String) {
        _ = failures.withLock { $0.removeValue(forKey: name) }
    }

    static func token() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Compares two tokens in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
