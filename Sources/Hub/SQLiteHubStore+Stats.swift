import Foundation
import GRDB

extension SQLiteHubStore: StatsStore {
    /// Counts from the tables themselves; the message counts read each message's `msg_type` from its stored JSON.
    public func stats(appKey: String, days: Int, now: Int64) async throws -> AppStats {
        let dayMillis: Int64 = 86_400_000
        let today = now - now % dayMillis
        let first = today - Int64(days - 1) * dayMillis
        return try await pool.read { db in
            let users = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user WHERE appkey = ? AND kind = 'user'",
                                         arguments: [appKey]) ?? 0
            let activeSQL = """
                SELECT COUNT(DISTINCT user.id) FROM user JOIN device ON device.user_id = user.id
                WHERE user.appkey = ? AND user.kind = 'user' AND device.last_login >= ?
                """
            let activeToday = try Int.fetchOne(db, sql: activeSQL, arguments: [appKey, today]) ?? 0
            let active7 = try Int.fetchOne(db, sql: activeSQL, arguments: [appKey, now - 7 * dayMillis]) ?? 0
            let groups = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM grp WHERE appkey = ?", arguments: [appKey]) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT (msg_ctime - ?) / ? AS day, json_extract(CAST(body AS TEXT), '$.msg_type') AS type, COUNT(*) AS n
                FROM message WHERE from_appkey = ? AND msg_ctime >= ? GROUP BY day, type
                """, arguments: [first, dayMillis, appKey, first])
            var perDay = [[String: Int]](repeating: [:], count: days)
            for row in rows {
                let day: Int = row["day"]
                guard (0..<days).contains(day) else { continue }
                let type: String? = row["type"]
                perDay[day][type ?? "unknown", default: 0] += row["n"] as Int
            }
            let labels = (0..<days).map { i in
                Date(timeIntervalSince1970: Double(first + Int64(i) * dayMillis) / 1000)
                    .formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
            }
            return AppStats(users: users, activeToday: activeToday, active7Days: active7, groups: groups,
                            messagesPerDay: Array(zip(labels, perDay)).map { (day: $0.0, counts: $0.1) })
        }
    }
}
