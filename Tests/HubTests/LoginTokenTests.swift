import Foundation
@testable import Hub
import IMProtocol
import Testing

/// Login tokens (`Hub+LoginTokens.swift`): a password login issues one for its device; a later login of that
/// device presents it instead of the password; anything else about it is refused as a wrong password is.
@Suite("Hub login tokens")
struct LoginTokenTests {
    static let app = TestApps.a.appKey

    @Test("a token from a password login logs the same device in again, and each login issues a fresh one",
          arguments: Backend.allCases)
    func aTokenLogsTheDeviceInAgain(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let first = try await hub.login(appKey: Self.app, username: "alice", password: "password1", device: "phone")
            #expect(first.user == alice)
            #expect(first.token.token.hasPrefix("mt1.\(alice.id)."))
            #expect(first.token.expiresAt > hub.now() + 6 * 86_400_000)
            let again = try await hub.login(appKey: Self.app, username: "alice", token: first.token.token, device: "phone")
            #expect(again.user == alice)
            // The fresh token works too.
            _ = try await hub.login(appKey: Self.app, username: "alice", token: again.token.token, device: "phone")
        }
    }

    @Test("a token is refused with 899008 for another device, another account, when tampered with or malformed")
    func aTokenIsBoundToItsAccountAndDevice() async throws {
        try await withHub { hub, _ in
            _ = try await hub.make("alice")
            _ = try await hub.make("bobby")
            let token = try await hub.login(appKey: Self.app, username: "alice", password: "password1", device: "phone").token.token
            // One character of the MAC changed (not the last, whose low bits are padding).
            var chars = Array(token)
            let i = chars.count - 10
            chars[i] = chars[i] == "A" ? "B" : "A"
            let tampered = String(chars)
            let refused: [(String, String, String)] = [
                ("alice", token, "tablet"),
                ("bobby", token, "phone"),
                ("alice", tampered, "phone"),
                ("alice", token.replacingOccurrences(of: "mt1.", with: "mt2."), "phone"),
                ("alice", "mt1.1.99999999999999.", "phone"),
                ("alice", "not a token", "phone"),
                ("alice", "", "phone"),
            ]
            for (username, presented, device) in refused {
                let error = await #expect(throws: HubError.self) {
                    try await hub.login(appKey: Self.app, username: username, token: presented, device: device)
                }
                #expect(error?.code == .authenticationFailed, "\(username) \(presented) \(device)")
            }
        }
    }

    @Test("changing the password ends every token issued before; a forbidden account is refused with its code")
    func aPasswordChangeEndsTheTokens() async throws {
        try await withHub { hub, _ in
            _ = try await hub.make("alice")
            let token = try await hub.login(appKey: Self.app, username: "alice", password: "password1", device: "d").token.token
            // Set again to the same password: a new hash (a new salt), so the old token no longer matches.
            try await hub.changePassword(appKey: Self.app, username: "alice", to: "password1")
            let error = await #expect(throws: HubError.self) {
                try await hub.login(appKey: Self.app, username: "alice", token: token, device: "d")
            }
            #expect(error?.code == .authenticationFailed)
            let fresh = try await hub.login(appKey: Self.app, username: "alice", password: "password1", device: "d").token.token
            try await hub.setForbidden(appKey: Self.app, username: "alice", true)
            let forbidden = await #expect(throws: HubError.self) {
                try await hub.login(appKey: Self.app, username: "alice", token: fresh, device: "d")
            }
            #expect(forbidden?.code == .userForbidden)
        }
    }

    @Test("an expired token is refused")
    func anExpiredTokenIsRefused() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let hash = try #require(try await hub.store.passwordHash(userID: alice.id))
            let expired = try Hub.makeToken(app: TestApps.a, user: alice, device: "d", passwordHash: hash,
                                            expiresAt: hub.now() - 1)
            let error = await #expect(throws: HubError.self) {
                try await hub.login(appKey: Self.app, username: "alice", token: expired.token, device: "d")
            }
            #expect(error?.code == .authenticationFailed)
            // The same token with a future expiry is good: only the expiry refused it.
            let good = try Hub.makeToken(app: TestApps.a, user: alice, device: "d", passwordHash: hash,
                                         expiresAt: hub.now() + 60_000)
            _ = try await hub.login(appKey: Self.app, username: "alice", token: good.token, device: "d")
        }
    }
}
