import Crypto
import Foundation
import IMProtocol

/// Login tokens: a signed, expiring proof of a password login that a client presents when it reconnects, so the
/// hub checks an HMAC instead of running bcrypt again. bcrypt is slow on purpose (about 70 ms at cost 10 here), so
/// a reconnect storm of 5,000 clients logging in with passwords costs minutes of CPU; with tokens it costs a read
/// and a hash each, and clients need not keep the password.
///
/// A token is stateless, `mt1.<user id>.<expiry ms>.<mac>`: the MAC is HMAC-SHA256, keyed by the app's master
/// secret, over the app, the account, the device, the expiry and the account's current password hash. Every node
/// of a cluster checks it with the same configuration; changing the password (or the master secret) ends every
/// token issued before, and a token is good only for the device it was issued to.
extension Hub {
    /// A token issued at login: what to present instead of the password, and until when (ms since 1970).
    public struct LoginToken: Sendable, Hashable {
        /// The token's text.
        public var token: String
        /// When it stops being accepted.
        public var expiresAt: Int64
    }

    /// Logs in with a password and issues a token for `device`.
    public func login(appKey: String, username: String, password: String,
                      device: String) async throws(HubError) -> (user: User, token: LoginToken) {
        let (user, hash) = try await checkPassword(appKey: appKey, username: username, password: password)
        guard let app = apps[appKey] else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        return (user, try Self.makeToken(app: app, user: user, device: device, passwordHash: hash,
                                         expiresAt: now() + configuration.loginTokenLifetime.wholeMilliseconds))
    }

    /// Logs in with a token issued by ``login(appKey:username:password:device:)`` for this device, and issues a
    /// fresh one. A token that is malformed, expired, for another account or device, or older than the account's
    /// password is refused with 899008, as a wrong password is.
    public func login(appKey: String, username: String, token: String,
                      device: String) async throws(HubError) -> (user: User, token: LoginToken) {
        guard let app = apps[appKey] else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        let failure = HubError(.authenticationFailed, "token: not valid for this account and device (log in with the password)")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "mt1", let userID = Int64(parts[1]), let expiresAt = Int64(parts[2]),
              let mac = Self.base64URLDecode(parts[3]), expiresAt > now()
        else { throw failure }
        guard let found = try await storing({ try await store.credentials(appKey: appKey, username: username) }),
              found.user.id == userID
        else { throw failure }
        let hash = found.passwordHash
        let key = SymmetricKey(data: Data(app.masterSecret.utf8))
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.tokenInput(
            appKey: appKey, userID: userID, device: device, expiresAt: expiresAt, passwordHash: hash), using: key)
        else { throw failure }
        guard !found.forbidden else { throw HubError(.userForbidden, "user '\(username)' is forbidden") }
        return (found.user, try Self.makeToken(app: app, user: found.user, device: device, passwordHash: hash,
                                          expiresAt: now() + configuration.loginTokenLifetime.wholeMilliseconds))
    }

    static func makeToken(app: AppSettings, user: User, device: String, passwordHash: String,
                          expiresAt: Int64) throws(HubError) -> LoginToken {
        let key = SymmetricKey(data: Data(app.masterSecret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(
            for: tokenInput(appKey: app.appKey, userID: user.id, device: device, expiresAt: expiresAt,
                            passwordHash: passwordHash), using: key)
        return LoginToken(token: "mt1.\(user.id).\(expiresAt).\(base64URLEncode(Data(mac)))", expiresAt: expiresAt)
    }

    /// What the MAC covers, each field prefixed with its length in bytes so that no two inputs read alike.
    static func tokenInput(appKey: String, userID: Int64, device: String, expiresAt: Int64, passwordHash: String) -> Data {
        var text = "mynah login token 1"
        for field in [appKey, String(userID), device, String(expiresAt), passwordHash] {
            text += "|\(field.utf8.count):\(field)"
        }
        return Data(text.utf8)
    }

    static func base64URLEncode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        guard text.count <= 64, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }) else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
