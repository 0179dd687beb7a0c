import Foundation
import IMProtocol
import Logging
import Synchronization

/// The apps the hub serves, as one value behind the hub's lock: those of the configuration and those created at
/// run time (the console's "create an app"), which a restart reads back from the store.
struct AppTable: Sendable {
    var apps: [String: AppSettings]
    var runtime: Set<String> = []
}

/// A store that keeps apps created at run time; `SQLiteHubStore` is one. A hub on a store without it answers
/// `createApp` with an error.
public protocol RuntimeAppStore: Sendable {
    /// Every app created at run time, oldest first.
    func runtimeApps() async throws -> [AppSettings]
    /// Stores a new app (and its row in the apps table) in one transaction; false when the AppKey is taken.
    func insertRuntimeApp(_ app: AppSettings, now: Int64) async throws -> Bool
}

/// What `createApp` needs besides the generated AppKey and master secret.
public struct NewApp: Sendable {
    /// A display name, 1 to 64 characters.
    public var name: String
    /// Whether messages wait for offline recipients.
    public var offlineMessages: Bool
    /// How long an undelivered entry waits.
    public var offlineTTL: Duration
    /// Friend mode: single chat between friends only.
    public var friendMode: Bool
    /// The `MaxMemberCount` of new groups.
    public var maxGroupMembers: Int

    /// Creates the settings of a new app; the defaults are those of `bots.yaml`.
    public init(name: String, offlineMessages: Bool = true, offlineTTL: Duration = AppSettings.defaultOfflineTTL,
                friendMode: Bool = false, maxGroupMembers: Int = AppSettings.defaultMaxGroupMembers) {
        self.name = name
        self.offlineMessages = offlineMessages
        self.offlineTTL = offlineTTL
        self.friendMode = friendMode
        self.maxGroupMembers = maxGroupMembers
    }
}

extension Hub {
    /// Every app served, configured ones first, each group by AppKey.
    public func allApps() -> [(app: AppSettings, runtime: Bool)] {
        appTable.withLock { table in
            table.apps.values.map { (app: $0, runtime: table.runtime.contains($0.appKey)) }
                .sorted { ($0.runtime ? 1 : 0, $0.app.appKey) < ($1.runtime ? 1 : 0, $1.app.appKey) }
        }
    }

    /// Creates an app at run time: a random AppKey and master secret, stored durably before it is served, usable at
    /// once by the REST API and the gateway and kept across restarts.
    public func createApp(_ new: NewApp) async throws(HubError) -> AppSettings {
        let name = new.name.trimmingCharacters(in: .whitespaces)
        guard (1...64).contains(name.count) else { throw HubError.invalid("name", "must be 1 to 64 characters") }
        guard (1...100_000).contains(new.maxGroupMembers) else {
            throw HubError.invalid("max_group_members", "must be 1 to 100000")
        }
        guard new.offlineTTL >= .seconds(1), new.offlineTTL <= .seconds(366 * 86400) else {
            throw HubError.invalid("offline_ttl", "must be 1 second to 366 days")
        }
        guard let store = store as? any RuntimeAppStore else {
            throw HubError(.internalError, "this hub's store cannot keep apps created at run time")
        }
        for _ in 0..<4 {
            let app = AppSettings(appKey: Self.randomHex(bytes: 12), masterSecret: Self.randomHex(bytes: 12), name: name,
                                  offlineMessages: new.offlineMessages, offlineTTL: new.offlineTTL,
                                  friendMode: new.friendMode, maxGroupMembers: new.maxGroupMembers)
            if self.app(app.appKey) != nil { continue }
            let inserted = try await storing { try await store.insertRuntimeApp(app, now: now()) }
            guard inserted else { continue }
            appTable.withLock { table in
                table.apps[app.appKey] = app
                table.runtime.insert(app.appKey)
            }
            logger.notice("app created at run time", metadata: ["appkey": "\(app.appKey)", "name": "\(name)"])
            return app
        }
        throw HubError(.internalError, "could not generate an unused AppKey")
    }

    /// Adds the stored run-time apps to the table; a configured app of the same AppKey wins.
    func loadRuntimeApps() async throws {
        guard let store = store as? any RuntimeAppStore else { return }
        let stored = try await store.runtimeApps()
        appTable.withLock { table in
            for app in stored where table.apps[app.appKey] == nil {
                table.apps[app.appKey] = app
                table.runtime.insert(app.appKey)
            }
        }
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }
            .joined()
    }
}
