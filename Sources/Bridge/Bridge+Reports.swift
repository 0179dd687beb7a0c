/// The report API's view of pushes: counts per `msg_id` from the accounts' receipts, and per-device status.
extension Bridge {
    /// How a push fared, counted over its resolved accounts.
    public struct Counts: Sendable, Equatable {
        /// The push's `msg_id`.
        public var msgID: Int64
        /// Resolved accounts.
        public var target = 0
        /// Accounts whose inbox got the message (received or not yet).
        public var delivered = 0
        /// Accounts a device of which acknowledged it.
        public var received = 0
        /// Accounts it expired for undelivered (time to live ended, or online-only while offline).
        public var expired = 0
        /// Accounts the hub refused it for.
        public var failed = 0
        /// Accounts not yet handed to the hub.
        public var pending = 0
        /// Escalation steps that ran.
        public var escalations = 0
    }

    /// Counts for each `msg_id` of an AppKey; `nil` for an id the AppKey did not push.
    public func counts(appKey: String, msgIDs: [Int64]) async throws(BridgeError) -> [(Int64, Counts?)] {
        var out: [(Int64, Counts?)] = []
        for id in msgIDs {
            guard let push = try await storing({ try await store.push(msgID: id) }), push.push.appKey == appKey else {
                out.append((id, nil))
                continue
            }
            var c = Counts(msgID: id)
            for d in try await deliveries(msgID: id) {
                c.target += 1
                switch d.status {
                case .pending: c.pending += 1
                case .delivered: c.delivered += 1
                case .received: c.delivered += 1; c.received += 1
                case .expired: c.expired += 1
                case .failed: c.failed += 1
                }
            }
            c.escalations = try await storing { try await store.escalations(pushID: id) }.count
            out.append((id, c))
        }
        return out
    }

    /// JPush's per-device status of a push: 0 received, 1 not received, 2 not a device of the app,
    /// 3 a device of the app the push was not aimed at.
    public func status(appKey: String, msgID: Int64, registrationIDs: [String]) async throws(BridgeError) -> [String: Int] {
        _ = try await push(msgID: msgID, appKey: appKey)
        let targets = try await storing { try await store.targets(pushID: msgID) }
        let deliveries = try await deliveries(msgID: msgID)
        var out: [String: Int] = [:]
        for rid in registrationIDs {
            if let target = targets.first(where: { $0.registrationID == rid }) {
                let received = deliveries.first { $0.userID == target.userID }?.status == .received
                out[rid] = received ? 0 : 1
            } else if try await storing({ try await store.device(appKey: appKey, registrationID: rid) }) != nil {
                out[rid] = 3
            } else {
                out[rid] = 2
            }
        }
        return out
    }
}
