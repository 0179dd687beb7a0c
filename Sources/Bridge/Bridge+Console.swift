/// The console's view of the bridge: recent pushes with their receipts, open deadlines, totals.
extension Bridge {
    /// A push with its deliveries (receipts brought up to date) and the escalations that ran for it.
    public struct PushReport: Sendable {
        /// The push.
        public var push: PushRecord
        /// Its deliveries, one per resolved account.
        public var deliveries: [DeliveryRecord]
        /// The escalation steps that ran, in order.
        public var escalations: [EscalationRecord]
    }

    /// The latest `limit` pushes of an app (1-100), newest first, each with its receipts and escalations.
    public func recentPushes(appKey: String, limit: Int = 20) async throws(BridgeError) -> [PushReport] {
        let pushes = try await storing { try await store.recentPushes(appKey: appKey, limit: min(max(limit, 1), 100)) }
        var out: [PushReport] = []
        for push in pushes {
            let deliveries = try await deliveries(msgID: push.msgID)
            let escalations = try await storing { try await store.escalations(pushID: push.msgID) }
            out.append(PushReport(push: push, deliveries: deliveries, escalations: escalations))
        }
        return out
    }

    /// Deliveries of an app's pushes not yet received, with their receipts brought up to date first: what still
    /// waits for a receipt, earliest deadline first (at most `limit`).
    public func openDeliveries(appKey: String, limit: Int = 50) async throws(BridgeError) -> [DeliveryRecord] {
        try await storing {
            var open: [DeliveryRecord] = []
            for d in try await store.openDeliveries(appKey: appKey, limit: limit) {
                let d = try await refresh(d)
                if d.status == .delivered { open.append(d) }
            }
            return open
        }
    }

    /// Accounts an app's pushes reached and whose receipt came (`received`), and those not yet received (in the hub
    /// unacknowledged, or not yet handed to it). Receipts are brought up to date first.
    public func receiptTotals(appKey: String) async throws(BridgeError) -> (received: Int, notYetReceived: Int) {
        try await storing {
            // Refreshing moves acknowledged deliveries to received before counting.
            while true {
                var moved = 0
                let open = try await store.openDeliveries(appKey: appKey, limit: 500)
                for d in open where try await refresh(d).status != .delivered { moved += 1 }
                if moved == 0 || open.count < 500 { break }
            }
            let counts = try await store.deliveryCounts(appKey: appKey)
            return (counts[.received] ?? 0, (counts[.delivered] ?? 0) + (counts[.pending] ?? 0))
        }
    }
}
