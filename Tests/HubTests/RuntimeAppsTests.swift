import Foundation
import Hub
import Synchronization
import IMProtocol
import Testing

@Suite struct RuntimeAppsTests {
    @Test func aCreatedAppIsUsableAtOnceAndKeptAcrossARestart() async throws {
        try await Sandbox.with { sandbox in
            let created: AppSettings
            do {
                let hub = try await sandbox.openHub()
                created = try await hub.createApp(NewApp(name: "  Created  ", friendMode: true, maxGroupMembers: 42))
                #expect(created.name == "Created")
                #expect(created.appKey.count == 24 && created.masterSecret.count == 24)
                #expect(created.appKey != created.masterSecret)
                #expect(try hub.authenticateApp(appKey: created.appKey, secret: created.masterSecret) == created)
                _ = try await hub.register(appKey: created.appKey, NewUser(username: "carol", password: "carol-pass"),
                                           kind: .user)
                let all = hub.allApps()
                #expect(all.map(\.runtime) == [false, false, true])
                #expect(all.last?.app == created)
            }
            let reopened = try await sandbox.openHub()
            #expect(reopened.app(created.appKey) == created)
            #expect(try await reopened.user(appKey: created.appKey, username: "carol").username == "carol")
            #expect(reopened.allApps().filter(\.runtime).map(\.app) == [created])
        }
    }

    @Test func aConfiguredAppOfTheSameKeyWins() async throws {
        try await Sandbox.with { sandbox in
            let created = try await sandbox.openHub().createApp(NewApp(name: "Runtime"))
            let configured = AppSettings(appKey: created.appKey, masterSecret: "configured-secret", name: "Configured")
            let hub = try await sandbox.openHub(apps: TestApps.all + [configured])
            #expect(hub.app(created.appKey) == configured)
            #expect(hub.allApps().filter(\.runtime).isEmpty)
        }
    }

    @Test(arguments: [
        (NewApp(name: " "), "name: must be 1 to 64 characters"),
        (NewApp(name: String(repeating: "n", count: 65)), "name: must be 1 to 64 characters"),
        (NewApp(name: "ok", maxGroupMembers: 0), "max_group_members: must be 1 to 100000"),
        (NewApp(name: "ok", offlineTTL: .zero), "offline_ttl: must be 1 second to 366 days"),
    ])
    func badSettingsAreRefusedNamingTheField(app: NewApp, message: String) async throws {
        try await Sandbox.with { sandbox in
            let hub = try await sandbox.openHub()
            let error = await #expect(throws: HubError.self) { try await hub.createApp(app) }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message == message)
            #expect(hub.allApps().count == 2)
        }
    }

    @Test func statsCountUsersActivityGroupsAndMessagesPerDayByType() async throws {
        try await Sandbox.with { sandbox in
            let day: Int64 = 86_400_000
            let clock = TestClock(start: 20_000 * day + 3_600_000)
            let hub = try await Hub(configuration: .init(apps: TestApps.all, passwordCost: 4, clock: { clock.now }),
                                    store: sandbox.openStore())
            let app = TestApps.a.appKey
            for name in ["anna", "bert", "cleo"] {
                _ = try await hub.register(appKey: app, NewUser(username: name, password: "pass-\(name)"), kind: .user)
            }
            let anna = try await hub.login(appKey: app, username: "anna", password: "pass-anna")
            _ = try await hub.sessionOpened(anna, device: "d", platform: "web")
            _ = try await hub.send(.init(targetID: "bert", body: .text("one")), from: anna, platform: "web")
            clock.advance(by: day)
            _ = try await hub.send(.init(targetID: "bert", body: .text("two")), from: anna, platform: "web")
            _ = try await hub.send(.init(targetID: "cleo", body: .text("three")), from: anna, platform: "web")
            let stats = try await hub.stats(appKey: app, days: 3)
            #expect(stats.users == 3)
            #expect(stats.activeToday == 0)
            #expect(stats.active7Days == 1)
            #expect(stats.groups == 0)
            #expect(stats.messagesPerDay.map(\.day) == ["2024-10-03", "2024-10-04", "2024-10-05"])
            #expect(stats.messagesPerDay.map(\.counts) == [[:], ["text": 1], ["text": 2]])
            let error = await #expect(throws: HubError.self) { try await hub.stats(appKey: "nope", days: 3) }
            #expect(error?.code == .appKeyNotFound)
        }
    }
}

/// A clock the test moves by hand.
private final class TestClock: Sendable {
    private let millis: Mutex<Int64>
    init(start: Int64) { millis = Mutex(start) }
    var now: Int64 { millis.withLock { $0 } }
    func advance(by delta: Int64) { millis.withLock { $0 += delta } }
}
