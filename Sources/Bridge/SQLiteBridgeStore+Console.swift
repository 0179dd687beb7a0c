import GRDB
import Hub

extension SQLiteBridgeStore {
    /// The latest `limit` pushes of an app, newest first.
    public func recentPushes(appKey: String, limit: Int) async throws -> [PushRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM push WHERE appkey = ? ORDER BY msg_id DESC LIMIT ?",
                             arguments: [appKey, limit]).map(Self.pushRecord(from:))
        }
    }

    /// How many deliveries of an app's pushes are in each status.
    public func deliveryCounts(appKey: String) async throws -> [DeliveryStatus: Int] {
        try await settledRead { db in
            var counts: [DeliveryStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT d.status AS status, COUNT(*) AS n FROM delivery d JOIN push p ON p.msg_id = d.push_id
                WHERE p.appkey = ? GROUP BY d.status
                """, arguments: [appKey]) {
                if let status = DeliveryStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    /// Deliveries of an app's pushes in the hub and not yet received, earliest receipt deadline first.
    public func openDeliveries(appKey: String, limit: Int) async throws -> [DeliveryRecord] {
        try await settledRead { db in
            try Row.fetchAll(db, sql: """
                SELECT d.* FROM delivery d JOIN push p ON p.msg_id = d.push_id
                WHERE p.appkey = ? AND d.status = 'delivered'
                ORDER BY d.due_at IS NULL, d.due_at, d.push_id, d.user_id LIMIT ?
                """, arguments: [appKey, limit]).map(Self.delivery(from:))
        }
    }
}
