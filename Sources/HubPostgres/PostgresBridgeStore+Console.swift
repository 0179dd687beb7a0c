import Bridge
import PostgresNIO

extension PostgresBridgeStore {
    /// The latest `limit` pushes of an app, newest first.
    public func recentPushes(appKey: String, limit: Int) async throws -> [PushRecord] {
        try await database.read { c in
            try await c.rows("SELECT * FROM bridge_push WHERE appkey = \(appKey) ORDER BY msg_id DESC LIMIT \(limit)")
                .map(Self.pushRecord(from:))
        }
    }

    /// How many deliveries of an app's pushes are in each status.
    public func deliveryCounts(appKey: String) async throws -> [DeliveryStatus: Int] {
        try await database.read { c in
            var counts: [DeliveryStatus: Int] = [:]
            for row in try await c.rows("""
                SELECT d.status AS status, COUNT(*) AS n FROM bridge_delivery d JOIN bridge_push p ON p.msg_id = d.push_id
                WHERE p.appkey = \(appKey) GROUP BY d.status
                """) {
                if let status = DeliveryStatus(rawValue: try row.get("status")) {
                    counts[status] = Int(try row.get("n") as Int64)
                }
            }
            return counts
        }
    }

    /// Deliveries of an app's pushes in the hub and not yet received, earliest receipt deadline first.
    public func openDeliveries(appKey: String, limit: Int) async throws -> [DeliveryRecord] {
        try await database.read { c in
            try await c.rows("""
                SELECT d.* FROM bridge_delivery d JOIN bridge_push p ON p.msg_id = d.push_id
                WHERE p.appkey = \(appKey) AND d.status = 'delivered'
                ORDER BY d.due_at ASC NULLS LAST, d.push_id, d.user_id LIMIT \(limit)
                """).map(Self.delivery(from:))
        }
    }
}
