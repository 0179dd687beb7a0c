import Foundation
import IMProtocol

/// An app's numbers for the console's dashboard.
public struct AppStats: Sendable, Equatable {
    /// Accounts of kind user.
    public var users: Int
    /// Users who logged in since the start of the current UTC day.
    public var activeToday: Int
    /// Users who logged in within the last 7 days.
    public var active7Days: Int
    /// Groups of the app.
    public var groups: Int
    /// Messages sent by the app's accounts per UTC day (`yyyy-MM-dd`) and `msg_type`, oldest day first.
    public var messagesPerDay: [(day: String, counts: [String: Int])]

    /// Creates the numbers.
    public init(users: Int, activeToday: Int, active7Days: Int, groups: Int,
                messagesPerDay: [(day: String, counts: [String: Int])]) {
        self.users = users
        self.activeToday = activeToday
        self.active7Days = active7Days
        self.groups = groups
        self.messagesPerDay = messagesPerDay
    }

    /// Equal when every count is.
    public static func == (a: AppStats, b: AppStats) -> Bool {
        a.users == b.users && a.activeToday == b.activeToday && a.active7Days == b.active7Days && a.groups == b.groups
            && a.messagesPerDay.map(\.day) == b.messagesPerDay.map(\.day)
            && a.messagesPerDay.map(\.counts) == b.messagesPerDay.map(\.counts)
    }
}

/// A store that can count for the dashboard; `SQLiteHubStore` is one.
public protocol StatsStore: Sendable {
    /// Counts of the app; `days` UTC days of messages ending with the one holding `now`.
    func stats(appKey: String, days: Int, now: Int64) async throws -> AppStats
}

extension Hub {
    /// The dashboard's numbers of an app, over the last `days` days (1 to 90).
    public func stats(appKey: String, days: Int = 14) async throws(HubError) -> AppStats {
        guard app(appKey) != nil else { throw HubError(.appKeyNotFound, "appkey \(appKey) does not exist") }
        guard (1...90).contains(days) else { throw HubError.invalid("days", "must be 1 to 90") }
        guard let store = store as? any StatsStore else {
            throw HubError(.internalError, "this hub's store does not keep statistics")
        }
        return try await storing { try await store.stats(appKey: appKey, days: days, now: now()) }
    }
}
