import Bridge
import Foundation
import Hub
import IMProtocol
import PostgresNIO

/// The bridge's store on PostgreSQL: the same contract as `SQLiteBridgeStore`, in `bridge_`-prefixed tables of the
/// node's database. Due deliveries and pushes with receipts to report are claimed with `FOR UPDATE SKIP LOCKED`, so
/// two nodes never claim the same one.
public final class PostgresBridgeStore: BridgeStore {
    let database: PostgresStorage

    /// A store on `database` (opened and migrated by `PostgresStorage.open`).
    public init(database: PostgresStorage) {
        self.database = database
    }

    /// The bridge's schema.
    public static let migrations = [
        PostgresMigration(component: "bridge", name: "v1", statements: [
            """
            CREATE TABLE bridge_device (
                appkey TEXT NOT NULL, rid TEXT NOT NULL, alias TEXT, mobile TEXT, mtime BIGINT NOT NULL,
                PRIMARY KEY (appkey, rid))
            """,
            "CREATE INDEX bridge_device_alias ON bridge_device(appkey, alias) WHERE alias IS NOT NULL",
            """
            CREATE TABLE bridge_device_tag (
                appkey TEXT NOT NULL, rid TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (appkey, rid, tag))
            """,
            "CREATE INDEX bridge_device_tag_tag ON bridge_device_tag(appkey, tag)",
            """
            CREATE TABLE bridge_binding (
                appkey TEXT NOT NULL, alias TEXT NOT NULL, username TEXT NOT NULL, mtime BIGINT NOT NULL,
                PRIMARY KEY (appkey, alias))
            """,
            """
            CREATE TABLE bridge_push (
                msg_id BIGSERIAL PRIMARY KEY, appkey TEXT NOT NULL, cid TEXT, sendno TEXT NOT NULL, rule TEXT NOT NULL,
                content TEXT NOT NULL, created_at BIGINT NOT NULL, ttl BIGINT NOT NULL)
            """,
            "CREATE UNIQUE INDEX bridge_push_cid ON bridge_push(appkey, cid) WHERE cid IS NOT NULL",
            """
            CREATE TABLE bridge_delivery (
                push_id BIGINT NOT NULL REFERENCES bridge_push(msg_id), user_id BIGINT NOT NULL, appkey TEXT NOT NULL,
                username TEXT NOT NULL, alias TEXT, status TEXT NOT NULL, hub_msg_id BIGINT, seq BIGINT,
                expires_at BIGINT, outcome_at BIGINT, step BIGINT NOT NULL DEFAULT 0, due_at BIGINT,
                lease_until BIGINT, error TEXT, PRIMARY KEY (push_id, user_id))
            """,
            "CREATE INDEX bridge_delivery_due ON bridge_delivery(due_at) WHERE due_at IS NOT NULL",
            "CREATE INDEX bridge_delivery_status ON bridge_delivery(status, expires_at)",
            """
            CREATE TABLE bridge_push_target (
                push_id BIGINT NOT NULL, rid TEXT NOT NULL, user_id BIGINT NOT NULL, PRIMARY KEY (push_id, rid))
            """,
            """
            CREATE TABLE bridge_escalation (
                id BIGSERIAL PRIMARY KEY, push_id BIGINT NOT NULL, user_id BIGINT NOT NULL, step BIGINT NOT NULL,
                action TEXT NOT NULL, at BIGINT NOT NULL, outcome TEXT NOT NULL)
            """,
            "CREATE INDEX bridge_escalation_push ON bridge_escalation(push_id, id)",
        ]),
        // A step run again by the node that re-claimed its deadline is recorded once (the first record stays).
        PostgresMigration(component: "bridge", name: "v2 escalation once", statements: [
            """
            DELETE FROM bridge_escalation e USING bridge_escalation f
            WHERE e.push_id = f.push_id AND e.user_id = f.user_id AND e.step = f.step AND e.id > f.id
            """,
            "CREATE UNIQUE INDEX bridge_escalation_step ON bridge_escalation(push_id, user_id, step)",
        ]),
        PostgresBridgeStore.receiptMigration,
    ]

    // MARK: Devices

    /// A device with its tags.
    public func device(appKey: String, registrationID: String) async throws -> DeviceRecord? {
        try await database.read { c in
            guard let row = try await c.row(
                "SELECT alias, mobile FROM bridge_device WHERE appkey = \(appKey) AND rid = \(registrationID)") else { return nil }
            let tags = try await c.values(String.self, """
                SELECT tag FROM bridge_device_tag WHERE appkey = \(appKey) AND rid = \(registrationID) ORDER BY tag COLLATE "C"
                """)
            return DeviceRecord(registrationID: registrationID, alias: try row.get("alias"), mobile: try row.get("mobile"),
                                tags: tags)
        }
    }

    /// Upserts a device and applies the change.
    public func updateDevice(appKey: String, registrationID: String, _ update: DeviceUpdate, now: Int64) async throws {
        try await database.write { c in
            try await Self.ensureDevice(c, appKey: appKey, rid: registrationID, now: now)
            if let alias = update.alias {
                let value: String? = alias.isEmpty ? nil : alias
                try await c.run("UPDATE bridge_device SET alias = \(value), mtime = \(now) WHERE appkey = \(appKey) AND rid = \(registrationID)")
            }
            if let mobile = update.mobile {
                let value: String? = mobile.isEmpty ? nil : mobile
                try await c.run("UPDATE bridge_device SET mobile = \(value), mtime = \(now) WHERE appkey = \(appKey) AND rid = \(registrationID)")
            }
            if update.clearTags {
                try await c.run("DELETE FROM bridge_device_tag WHERE appkey = \(appKey) AND rid = \(registrationID)")
            }
            for tag in update.addTags {
                try await c.run("""
                    INSERT INTO bridge_device_tag (appkey, rid, tag) VALUES (\(appKey), \(registrationID), \(tag)) ON CONFLICT DO NOTHING
                    """)
            }
            for tag in update.removeTags {
                try await c.run("DELETE FROM bridge_device_tag WHERE appkey = \(appKey) AND rid = \(registrationID) AND tag = \(tag)")
            }
        }
    }

    static func ensureDevice(_ c: PostgresConnection, appKey: String, rid: String, now: Int64) async throws {
        try await c.run("INSERT INTO bridge_device (appkey, rid, mtime) VALUES (\(appKey), \(rid), \(now)) ON CONFLICT DO NOTHING")
    }

    /// The devices holding an alias.
    public func registrationIDs(appKey: String, alias: String) async throws -> [String] {
        try await database.read { c in
            try await c.values(String.self, """
                SELECT rid FROM bridge_device WHERE appkey = \(appKey) AND alias = \(alias) ORDER BY rid COLLATE "C"
                """)
        }
    }

    /// Unbinds an alias.
    public func removeAlias(appKey: String, alias: String) async throws -> Int {
        try await database.write { c in
            try await c.run("UPDATE bridge_device SET alias = NULL WHERE appkey = \(appKey) AND alias = \(alias) RETURNING 1")
        }
    }

    /// Every aliased device.
    public func aliasedDevices(appKey: String) async throws -> [(registrationID: String, alias: String)] {
        let rows = try await database.read { c in
            try await c.rows("""
                SELECT rid, alias FROM bridge_device WHERE appkey = \(appKey) AND alias IS NOT NULL ORDER BY rid COLLATE "C"
                """).map { [try $0.get("rid", as: String.self), try $0.get("alias", as: String.self)] }
        }
        return rows.map { (registrationID: $0[0], alias: $0[1]) }
    }

    /// The aliases of some devices.
    public func aliases(appKey: String, registrationIDs: [String]) async throws -> [String: String] {
        guard !registrationIDs.isEmpty else { return [:] }
        let rows = try await database.read { c in
            try await c.rows("""
                SELECT rid, alias FROM bridge_device
                WHERE appkey = \(appKey) AND rid = ANY(\(registrationIDs)::text[]) AND alias IS NOT NULL
                """).map { [try $0.get("rid", as: String.self), try $0.get("alias", as: String.self)] }
        }
        return Dictionary(rows.map { ($0[0], $0[1]) }, uniquingKeysWith: { a, _ in a })
    }

    /// The tags in use.
    public func tags(appKey: String) async throws -> [String] {
        try await database.read { c in
            try await c.values(String.self, """
                SELECT DISTINCT tag COLLATE "C" AS tag FROM bridge_device_tag WHERE appkey = \(appKey) ORDER BY 1
                """)
        }
    }

    /// The devices of a tag.
    public func registrationIDs(appKey: String, tag: String) async throws -> [String] {
        try await database.read { c in
            try await c.values(String.self, """
                SELECT rid FROM bridge_device_tag WHERE appkey = \(appKey) AND tag = \(tag) ORDER BY rid COLLATE "C"
                """)
        }
    }

    /// Changes a tag's devices.
    public func updateTag(appKey: String, tag: String, add: [String], remove: [String], now: Int64) async throws {
        try await database.write { c in
            for rid in add {
                try await Self.ensureDevice(c, appKey: appKey, rid: rid, now: now)
                try await c.run("""
                    INSERT INTO bridge_device_tag (appkey, rid, tag) VALUES (\(appKey), \(rid), \(tag)) ON CONFLICT DO NOTHING
                    """)
            }
            for rid in remove {
                try await c.run("DELETE FROM bridge_device_tag WHERE appkey = \(appKey) AND rid = \(rid) AND tag = \(tag)")
            }
        }
    }

    /// Removes a tag.
    public func removeTag(appKey: String, tag: String) async throws -> Int {
        try await database.write { c in
            try await c.run("DELETE FROM bridge_device_tag WHERE appkey = \(appKey) AND tag = \(tag) RETURNING 1")
        }
    }

    // MARK: Bindings

    /// A binding.
    public func binding(appKey: String, alias: String) async throws -> String? {
        try await database.read { c in
            try await c.value(String.self, "SELECT username FROM bridge_binding WHERE appkey = \(appKey) AND alias = \(alias)")
        }
    }

    /// Sets a binding.
    public func setBinding(appKey: String, alias: String, username: String, now: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO bridge_binding (appkey, alias, username, mtime) VALUES (\(appKey), \(alias), \(username), \(now))
                ON CONFLICT (appkey, alias) DO UPDATE SET username = excluded.username, mtime = excluded.mtime
                """)
        }
    }

    /// Removes a binding.
    public func removeBinding(appKey: String, alias: String) async throws -> Bool {
        try await database.write { c in
            try await c.run("DELETE FROM bridge_binding WHERE appkey = \(appKey) AND alias = \(alias) RETURNING 1") > 0
        }
    }

    /// Every binding.
    public func bindings(appKey: String) async throws -> [(alias: String, username: String)] {
        let rows = try await database.read { c in
            try await c.rows("""
                SELECT alias, username FROM bridge_binding WHERE appkey = \(appKey) ORDER BY alias COLLATE "C"
                """).map { [try $0.get("alias", as: String.self), try $0.get("username", as: String.self)] }
        }
        return rows.map { (alias: $0[0], username: $0[1]) }
    }

    // MARK: Pushes

    /// Records a push with its deliveries and targets, or returns the push with the same cid.
    public func recordPush(_ push: NewPush, deliveries: [NewDelivery]) async throws -> (push: PushRecord, duplicate: Bool) {
        let content = push.content.json.serializedString()
        let callback = push.callback?.json.serializedString()
        let callbackType = Int64(push.callback?.type ?? 0)
        let (record, duplicate) = try await database.write { c -> (PushRecord, Bool) in
            // Concurrent pushes with one cid: the unique index lets one insert; the other finds it.
            guard let msgID = try await c.value(Int64.self, """
                INSERT INTO bridge_push (appkey, cid, sendno, rule, content, created_at, ttl, callback, callback_type)
                VALUES (\(push.appKey), \(push.cid), \(push.sendno), \(push.rule), \(content), \(push.createdAt), \(push.timeToLive),
                        \(callback), \(callbackType))
                ON CONFLICT (appkey, cid) WHERE cid IS NOT NULL DO NOTHING RETURNING msg_id
                """) else {
                guard let cid = push.cid, let existing = try await Self.push(c, appKey: push.appKey, cid: cid) else {
                    throw HubError.storage
                }
                return (existing, true)
            }
            for d in deliveries {
                try await c.run("""
                    INSERT INTO bridge_delivery (push_id, user_id, appkey, username, alias, status, due_at)
                    VALUES (\(msgID), \(d.userID), \(d.appKey), \(d.username), \(d.alias), 'pending', \(d.dueAt))
                    """)
                if !d.registrationIDs.isEmpty {
                    try await c.run("""
                        INSERT INTO bridge_push_target (push_id, rid, user_id)
                        SELECT \(msgID), r, \(d.userID) FROM unnest(\(d.registrationIDs)::text[]) AS t(r) ON CONFLICT DO NOTHING
                        """)
                }
            }
            return (PushRecord(msgID: msgID, push: push), false)
        }
        return (record, duplicate)
    }

    static func push(_ c: PostgresConnection, appKey: String, cid: String) async throws -> PushRecord? {
        try await c.row("SELECT * FROM bridge_push WHERE appkey = \(appKey) AND cid = \(cid)").map(pushRecord(from:))
    }

    static func pushRecord(from row: PostgresRandomAccessRow) throws -> PushRecord {
        let content = try PushContent(json: try JSONValue.parse(try row.get("content", as: String.self)))
        var push = NewPush(
            appKey: try row.get("appkey"), cid: try row.get("cid"), sendno: try row.get("sendno"), rule: try row.get("rule"),
            content: content, createdAt: try row.get("created_at"), timeToLive: try row.get("ttl"))
        if let callback = try row.get("callback", as: String?.self) {
            push.callback = try ReceiptCallback.read(try JSONValue.parse(callback))
        }
        return PushRecord(msgID: try row.get("msg_id"), push: push)
    }

    /// A push by cid.
    public func push(appKey: String, cid: String) async throws -> PushRecord? {
        try await database.read { c in try await Self.push(c, appKey: appKey, cid: cid) }
    }

    /// A push by msg_id.
    public func push(msgID: Int64) async throws -> PushRecord? {
        try await database.read { c in
            try await c.row("SELECT * FROM bridge_push WHERE msg_id = \(msgID)").map(Self.pushRecord(from:))
        }
    }

    static func delivery(from row: PostgresRandomAccessRow) throws -> DeliveryRecord {
        DeliveryRecord(
            pushID: try row.get("push_id"), userID: try row.get("user_id"), appKey: try row.get("appkey"),
            username: try row.get("username"), alias: try row.get("alias"),
            status: DeliveryStatus(rawValue: try row.get("status")) ?? .failed, hubMsgID: try row.get("hub_msg_id"),
            seq: try row.get("seq"), expiresAt: try row.get("expires_at"), outcomeAt: try row.get("outcome_at"),
            step: try row.get("step"), dueAt: try row.get("due_at"), error: try row.get("error"))
    }

    /// The deliveries of a push.
    public func deliveries(pushID: Int64) async throws -> [DeliveryRecord] {
        try await database.read { c in
            try await c.rows("SELECT * FROM bridge_delivery WHERE push_id = \(pushID) ORDER BY user_id").map(Self.delivery(from:))
        }
    }

    /// The devices a push was aimed at.
    public func targets(pushID: Int64) async throws -> [(registrationID: String, userID: Int64)] {
        let rows = try await database.read { c in
            try await c.rows("SELECT rid, user_id FROM bridge_push_target WHERE push_id = \(pushID) ORDER BY rid COLLATE \"C\"")
                .map { Target(rid: try $0.get("rid"), userID: try $0.get("user_id")) }
        }
        return rows.map { (registrationID: $0.rid, userID: $0.userID) }
    }

    struct Target: Sendable {
        var rid: String
        var userID: Int64
    }

    /// Deliveries not yet handed to the hub.
    public func pendingDeliveries() async throws -> [DeliveryRecord] {
        try await database.read { c in
            try await c.rows("SELECT * FROM bridge_delivery WHERE status = 'pending' ORDER BY push_id, user_id")
                .map(Self.delivery(from:))
        }
    }

    /// Records the hub's answer.
    public func setDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                             expiresAt: Int64?, error: String?) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE bridge_delivery SET status = \(status.rawValue), hub_msg_id = COALESCE(hub_msg_id, \(hubMsgID)),
                    seq = COALESCE(seq, \(seq)), expires_at = \(expiresAt), error = \(error)
                WHERE push_id = \(pushID) AND user_id = \(userID)
                """)
        }
    }

    /// Points a delivery at a resent copy.
    public func rebase(pushID: Int64, userID: Int64, seq: Int64, expiresAt: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE bridge_delivery SET status = 'delivered', seq = \(seq), expires_at = \(expiresAt), outcome_at = NULL,
                    error = NULL WHERE push_id = \(pushID) AND user_id = \(userID)
                """)
        }
    }

    /// Records a receipt or an expiry.
    public func setOutcome(pushID: Int64, userID: Int64, status: DeliveryStatus, at: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE bridge_delivery SET status = \(status.rawValue), outcome_at = \(at) WHERE push_id = \(pushID) AND user_id = \(userID)
                """)
        }
    }

    /// Sets the next step and deadline and releases the claim.
    public func schedule(pushID: Int64, userID: Int64, step: Int, dueAt: Int64?) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE bridge_delivery SET step = \(Int64(step)), due_at = \(dueAt), lease_until = NULL
                WHERE push_id = \(pushID) AND user_id = \(userID)
                """)
        }
    }

    /// Claims due deliveries; rows another transaction is claiming are skipped, not waited for.
    public func claimDue(now: Int64, leaseUntil: Int64, limit: Int) async throws -> [DeliveryRecord] {
        try await database.write { c in
            try await c.rows("""
                UPDATE bridge_delivery AS d SET lease_until = \(leaseUntil)
                FROM (SELECT push_id, user_id FROM bridge_delivery
                      WHERE due_at IS NOT NULL AND due_at <= \(now) AND (lease_until IS NULL OR lease_until <= \(now))
                      ORDER BY due_at LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED) AS due
                WHERE d.push_id = due.push_id AND d.user_id = due.user_id
                RETURNING d.*
                """).map(Self.delivery(from:)).sorted { ($0.dueAt ?? 0, $0.pushID, $0.userID) < ($1.dueAt ?? 0, $1.pushID, $1.userID) }
        }
    }

    /// Delivered, unreceived deliveries whose TTL ended.
    public func expiredUnreceived(now: Int64, limit: Int) async throws -> [DeliveryRecord] {
        try await database.read { c in
            try await c.rows("""
                SELECT * FROM bridge_delivery WHERE status = 'delivered' AND expires_at IS NOT NULL AND expires_at <= \(now)
                ORDER BY expires_at LIMIT \(Int64(limit))
                """).map(Self.delivery(from:))
        }
    }

    /// Records an escalation.
    public func recordEscalation(_ e: EscalationRecord) async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO bridge_escalation (push_id, user_id, step, action, at, outcome)
                VALUES (\(e.pushID), \(e.userID), \(Int64(e.step)), \(e.action), \(e.at), \(e.outcome))
                ON CONFLICT (push_id, user_id, step) DO NOTHING
                """)
        }
    }

    /// The escalations of a push.
    public func escalations(pushID: Int64) async throws -> [EscalationRecord] {
        try await database.read { c in
            try await c.rows("SELECT * FROM bridge_escalation WHERE push_id = \(pushID) ORDER BY id").map {
                EscalationRecord(pushID: try $0.get("push_id"), userID: try $0.get("user_id"), step: try $0.get("step"),
                                 action: try $0.get("action"), at: try $0.get("at"), outcome: try $0.get("outcome"))
            }
        }
    }
}
