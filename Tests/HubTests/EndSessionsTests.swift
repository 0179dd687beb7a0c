import Hub
import IMProtocol
import Synchronization
import Testing

/// `Hub.endSessions`: the console's "end session" reaches the sessions of one account (one device) that can be ended.
@Suite struct EndSessionsTests {
    @Test func endsTheSessionsOfOneDeviceOrAllAndOnlyThoseThatCanBeEnded() async throws {
        try await Sandbox.with { sandbox in
            let hub = try await Hub(configuration: .init(apps: TestApps.all, passwordCost: 4), store: sandbox.openStore())
            let app = TestApps.a.appKey
            for name in ["anna", "bert"] {
                _ = try await hub.register(appKey: app, NewUser(username: name, password: "pass-\(name)"), kind: .user)
            }
            let anna = try await hub.login(appKey: app, username: "anna", password: "pass-anna")
            let bert = try await hub.login(appKey: app, username: "bert", password: "pass-bert")
            let ended = Mutex<[String]>([])
            let phone = try await hub.sessionOpened(anna, device: "phone", platform: "a") { ended.withLock { $0.append("phone") } }
            _ = try await hub.sessionOpened(anna, device: "laptop", platform: "web") { ended.withLock { $0.append("laptop") } }
            _ = try await hub.sessionOpened(anna, device: "bot", platform: "api")
            _ = try await hub.sessionOpened(bert, device: "phone", platform: "a") { ended.withLock { $0.append("bert") } }

            #expect(try await hub.endSessions(appKey: app, username: "anna", device: "phone") == 1)
            #expect(ended.withLock { $0 } == ["phone"])
            // Ended once: the session's own close comes later; asking again does not end it twice.
            #expect(try await hub.endSessions(appKey: app, username: "anna", device: "phone") == 0)
            hub.sessionClosed(phone)
            #expect(try await hub.endSessions(appKey: app, username: "anna", device: nil) == 1)
            #expect(ended.withLock { $0 } == ["phone", "laptop"])
            // The session without a way to end it is still online; bert's was never touched.
            #expect(try await hub.userStat(appKey: app, username: "anna").devices.contains { $0.device == "bot" && $0.online })
            #expect(try await hub.userStat(appKey: app, username: "bert").online)
            let error = await #expect(throws: HubError.self) {
                try await hub.endSessions(appKey: app, username: "nobody", device: nil)
            }
            #expect(error?.code == .userNotFound)
        }
    }
}
