import Foundation
import GRDB
import Hub
import IMProtocol

/// The bridge's embedded store: its own SQLite file (`bridge.sqlite`) in WAL mode with `synchronous = FULL`,
/// so a push acknowledged with 200 survives a crash; schema changes go through migrations.
public final class SQLiteBridgeStore: BridgeStore {
    let pool: DatabasePool
    /// Every write goes through one group commit: the pushes and delivery records of concurrent requests share a
    /// transaction and its fsync.
    let writer: GroupCommitWriter

    /// Opens (creating if needed) the database at `path` and migrates it.
    public init(path: String) throws {
        pool = try DurableDatabase.open(path: path, migrator: Self.migrator)
        writer = GroupCommitWriter(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE device (
                    appkey TEXT NOT NULL,
                    rid TEXT NOT NULL,
                    alias TEXT,
                    mobile TEXT,
                    mtime INTEGER NOT NULL,
                    PRIMARY KEY (appkey, rid)
                ) WITHOUT ROWID;
                CREATE INDEX device_alias ON device(appkey, alias) WHERE alias IS NOT NULL;
                CREATE TABLE device_tag (
                    appkey TEXT NOT NULL,
                    rid TEXT NOT NULL,
                    tag TEXT NOT NULL,
                    PRIMARY KEY (appkey, rid, tag)
                ) WITHOUT ROWID;
                CREATE INDEX device_tag_tag ON device_tag(appkey, tag);
                CREATE TABLE binding (
                    appkey TEXT NOT NULL,
                    alias TEXT NOT NULL,
                    username TEXT NOT NULL,
                    mtime INTEGER NOT NULL,
                    PRIMARY KEY (appkey, alias)
                ) WITHOUT ROWID;
                CREATE TABLE push (
                    msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL,
                    cid TEXT,
                    sendno TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    content TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    ttl INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX push_cid ON push(appkey, cid) WHERE cid IS NOT NULL;
                CREATE TABLE delivery (
                    push_id INTEGER NOT NULL REFERENCES push(msg_id),
                    user_id INTEGER NOT NULL,
                    appkey TEXT NOT NULL,
                    username TEXT NOT NULL,
                    alias TEXT,
                    status TEXT NOT NULL,
                    hub_msg_id INTEGER,
                    seq INTEGER,
                    expires_at INTEGER,
                    outcome_at INTEGER,
                    step INTEGER NOT NULL DEFAULT 0,
                    due_at INTEGER,
                    lease_until INTEGER,
                    error TEXT,
                    PRIMARY KEY (push_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX delivery_due ON delivery(due_at) WHERE due_at IS NOT NULL;
                CREATE INDEX delivery_status ON delivery(status, expires_at);
                CREATE TABLE push_target (
                    push_id INTEGER NOT NULL,
                    rid TEXT NOT NULL,
                    user_id INTEGER NOT NULL,
                    PRIMARY KEY (push_id, rid)
                ) WITHOUT ROWID;
                CREATE TABLE escalation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    push_id INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    action TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    outcome TEXT NOT NULL
                );
                CREATE INDEX escalation_push ON escalation(push_id, id);
                """)
        }
        registerReceiptMigration(&m)
        // A step run again after a crash before its deadline was rescheduled is recorded once (the first stays).
        m.registerMigration("v3 escalation once") { db in
            try db.execute(sql: """
                DELETE FROM escalation WHERE id NOT IN (SELECT min(id) FROM escalation GROUP BY push_id, user_id, step);
                CREATE UNIQUE INDEX escalation_step ON escalation(push_id, user_id, step);
                """)
        }
        registerReceiptClaimMigration(&m)
        return m
    }

    // MARK: Devices

    /// A device with its tags.
    public func device(appKey: String, registrationID: String) async throws -> DeviceRecord? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT alias, mobile FROM device WHERE appkey = ? AND rid = ?",
                                             arguments: [appKey, registrationID]) else { return nil }
            let tags = try String.fetchAll(db, sql: "SELECT tag FROM device_tag WHERE appkey = ? AND rid = ? ORDER BY tag",
                                           arguments: [appKey, registrationID])
            return DeviceRecord(registrationID: registrationID, alias: row["alias"], mobile: row["mobile"], tags: tags)
        }
    }

    /// Upserts a device and applies the change.
    public func updateDevice(appKey: String, registrationID: String, _ update: DeviceUpdate, now: Int64) async throws {
        try await writer.write { db in
            try Self.ensureDevice(db, appKey: appKey, rid: registrationID, now: now)
            if let alias = update.alias {
                try db.execute(sql: "UPDATE device SET alias = ?, mtime = ? WHERE appkey = ? AND rid = ?",
                               arguments: [alias.isEmpty ? nil : alias, now, appKey, registrationID])
            }
            if let mobile = update.mobile {
                try db.execute(sql: "UPDATE device SET mobile = ?, mtime = ? WHERE appkey = ? AND rid = ?",
                               arguments: [mobile.isEmpty ? nil : mobile, now, appKey, registrationID])
            }
            if update.clearTags {
                try db.execute(sql: "DELETE FROM device_tag WHERE appkey = ? AND rid = ?", arguments: [appKey, registrationID])
            }
            for tag in update.addTags {
                try db.execute(sql: "INSERT OR IGNORE INTO device_tag (appkey, rid, tag) VALUES (?, ?, ?)",
                               arguments: [appKey, registrationID, tag])
            }
            for tag in update.removeTags {
                try db.execute(sql: "DELETE FROM device_tag WHERE appkey = ? AND rid = ? AND tag = ?",
                               arguments: [appKey, registrationID, tag])
            }
        }
    }

    static func ensureDevice(_ db: Database, appKey: String, rid: String, now: Int64) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO device (appkey, rid, mtime) VALUES (?, ?, ?)", arguments: [appKey, rid, now])
    }

    /// The devices holding an alias.
    public func registrationIDs(appKey: String, alias: String) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(try db.cachedStatement(sql: "SELECT rid FROM device WHERE appkey = ? AND alias = ? ORDER BY rid"),
                                arguments: [appKey, alias])
        }
    }

    /// Unbinds an alias.
    public func removeAlias(appKey: String, alias: String) async throws -> Int {
        try await writer.write { db in
            try db.execute(sql: "UPDATE device SET alias = NULL WHERE appkey = ? AND alias = ?", arguments: [appKey, alias])
            return db.changesCount
        }
    }

    /// Every aliased device.
    public func aliasedDevices(appKey: String) async throws -> [(registrationID: String, alias: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT rid, alias FROM device WHERE appkey = ? AND alias IS NOT NULL ORDER BY rid",
                             arguments: [appKey]).map { (registrationID: $0["rid"], alias: $0["alias"]) }
        }
    }

    /// The aliases of some devices.
    public func aliases(appKey: String, registrationIDs: [String]) async throws -> [String: String] {
        try await pool.read { db in
            var result: [String: String] = [:]
            let statement = try db.cachedStatement(sql: "SELECT alias FROM device WHERE appkey = ? AND rid = ?")
            for rid in registrationIDs {
                if let alias = try String?.fetchOne(statement, arguments: [appKey, rid]) ?? nil { result[rid] = alias }
            }
            return result
        }
    }

    /// The tags in use.
    public func tags(appKey: String) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT tag FROM device_tag WHERE appkey = ? ORDER BY tag", arguments: [appKey])
        }
    }

    /// The devices of a tag.
    public func registrationIDs(appKey: String, tag: String) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT rid FROM device_tag WHERE appkey = ? AND tag = ? ORDER BY rid",
                                arguments: [appKey, tag])
        }
    }

    /// Changes a tag's devices.
    public func updateTag(appKey: String, tag: String, add: [String], remove: [String], now: Int64) async throws {
        try await writer.write { db in
            for rid in add {
                try Self.ensureDevice(db, appKey: appKey, rid: rid, now: now)
                try db.execute(sql: "INSERT OR IGNORE INTO device_tag (appkey, rid, tag) VALUES (?, ?, ?)",
                               arguments: [appKey, rid, tag])
            }
            for rid in remove {
                try db.execute(sql: "DELETE FROM device_tag WHERE appkey = ? AND rid = ? AND tag = ?",
                               arguments: [appKey, rid, tag])
            }
        }
    }

    /// Removes a tag.
    public func removeTag(appKey: String, tag: String) async throws -> Int {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM device_tag WHERE appkey = ? AND tag = ?", arguments: [appKey, tag])
            return db.changesCount
        }
    }

    // MARK: Bindings

    /// A binding.
    public func binding(appKey: String, alias: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(try db.cachedStatement(sql: "SELECT username FROM binding WHERE appkey = ? AND alias = ?"),
                                arguments: [appKey, alias])
        }
    }

    /// Sets a binding.
    public func setBinding(appKey: String, alias: String, username: String, now: Int64) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO binding (appkey, alias, username, mtime) VALUES (?, ?, ?, ?)
                    ON CONFLICT(appkey, alias) DO UPDATE SET username = excluded.username, mtime = excluded.mtime
                    """,
                arguments: [appKey, alias, username, now])
        }
    }

    /// Removes a binding.
    public func removeBinding(appKey: String, alias: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM binding WHERE appkey = ? AND alias = ?", arguments: [appKey, alias])
            return db.changesCount > 0
        }
    }

    /// Every binding.
    public func bindings(appKey: String) async throws -> [(alias: String, username: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT alias, username FROM binding WHERE appkey = ? ORDER BY alias",
                             arguments: [appKey]).map { (alias: $0["alias"], username: $0["username"]) }
        }
    }

    // MARK: Pushes

    /// Records a push with its deliveries and targets, or returns the push with the same cid.
    public func recordPush(_ push: NewPush, deliveries: [NewDelivery]) async throws -> (push: PushRecord, duplicate: Bool) {
        try await writer.write { db in
            if let cid = push.cid, let existing = try Self.push(db, appKey: push.appKey, cid: cid) {
                return (existing, true)
            }
            try db.cachedStatement(
                sql: "INSERT INTO push (appkey, cid, sendno, rule, content, created_at, ttl, callback) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").execute(
                arguments: [push.appKey, push.cid, push.sendno, push.rule, push.content.json.serializedString(),
                            push.createdAt, push.timeToLive, push.callback?.json.serializedString()])
            let msgID = db.lastInsertedRowID
            let insert = try db.cachedStatement(sql: """
                INSERT INTO delivery (push_id, user_id, appkey, username, alias, status, due_at)
                VALUES (?, ?, ?, ?, ?, 'pending', ?)
                """)
            let target = try db.cachedStatement(sql: "INSERT OR IGNORE INTO push_target (push_id, rid, user_id) VALUES (?, ?, ?)")
            for d in deliveries {
                try insert.execute(arguments: [msgID, d.userID, d.appKey, d.username, d.alias, d.dueAt])
                for rid in d.registrationIDs { try target.execute(arguments: [msgID, rid, d.userID]) }
            }
            return (PushRecord(msgID: msgID, push: push), false)
        }
    }

    static func push(_ db: Database, appKey: String, cid: String) throws -> PushRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM push WHERE appkey = ? AND cid = ?"), arguments: [appKey, cid])
            .map(pushRecord(from:))
    }

    static func pushRecord(from row: Row) throws -> PushRecord {
        let content = try PushContent(json: try JSONValue.parse(row["content"] as String))
        var push = NewPush(
            appKey: row["appkey"], cid: row["cid"], sendno: row["sendno"], rule: row["rule"], content: content,
            createdAt: row["created_at"], timeToLive: row["ttl"])
        if let callback = row["callback"] as String? {
            push.callback = try ReceiptCallback.read(try JSONValue.parse(callback))
        }
        return PushRecord(msgID: row["msg_id"], push: push)
    }

    /// A push by cid.
    public func push(appKey: String, cid: String) async throws -> PushRecord? {
        try await pool.read { db in try Self.push(db, appKey: appKey, cid: cid) }
    }

    /// A push by msg_id.
    public func push(msgID: Int64) async throws -> PushRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM push WHERE msg_id = ?", arguments: [msgID]).map(Self.pushRecord(from:))
        }
    }

    static func delivery(from row: Row) -> DeliveryRecord {
        DeliveryRecord(
            pushID: row["push_id"], userID: row["user_id"], appKey: row["appkey"], username: row["username"],
            alias: row["alias"], status: DeliveryStatus(rawValue: row["status"]) ?? .failed, hubMsgID: row["hub_msg_id"],
            seq: row["seq"], expiresAt: row["expires_at"], outcomeAt: row["outcome_at"], step: row["step"],
            dueAt: row["due_at"], error: row["error"])
    }

    /// The deliveries of a push.
    public func deliveries(pushID: Int64) async throws -> [DeliveryRecord] {
        try await settledRead { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM delivery WHERE push_id = ? ORDER BY user_id"), arguments: [pushID])
                .map(Self.delivery(from:))
        }
    }

    /// The devices a push was aimed at.
    public func targets(pushID: Int64) async throws -> [(registrationID: String, userID: Int64)] {
        try await settledRead { db in
            try Row.fetchAll(db, sql: "SELECT rid, user_id FROM push_target WHERE push_id = ? ORDER BY rid",
                             arguments: [pushID]).map { (registrationID: $0["rid"], userID: $0["user_id"]) }
        }
    }

    /// Deliveries not yet handed to the hub.
    public func pendingDeliveries() async throws -> [DeliveryRecord] {
        try await settledRead { db in
            try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE status = 'pending' ORDER BY push_id, user_id")
                .map(Self.delivery(from:))
        }
    }

    /// Records the hub's answer.
    public func setDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                             expiresAt: Int64?, error: String?) async throws {
        try await writer.write(Self.delivered(pushID: pushID, userID: userID, status: status, hubMsgID: hubMsgID, seq: seq,
                                              expiresAt: expiresAt, error: error))
    }

    /// Queues the record in the group commit without waiting for it (its place in the order of this store's
    /// writes is kept; the reads of deliveries wait for the queued records first, through ``settledRead(_:)``). A
    /// push then waits for two commits of this file, not three.
    public func queueDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                               expiresAt: Int64?, error: String?, failed: @escaping @Sendable (any Error) -> Void) async {
        writer.submit(Self.delivered(pushID: pushID, userID: userID, status: status, hubMsgID: hubMsgID, seq: seq,
                                     expiresAt: expiresAt, error: error), failed: failed)
    }

    static func delivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                          expiresAt: Int64?, error: String?) -> @Sendable (Database) throws -> Void {
        { db in
            try db.cachedStatement(
                sql: """
                    UPDATE delivery SET status = ?, hub_msg_id = COALESCE(hub_msg_id, ?), seq = COALESCE(seq, ?),
                        expires_at = ?, error = ?
                    WHERE push_id = ? AND user_id = ?
                    """).execute(
                arguments: [status.rawValue, hubMsgID, seq, expiresAt, error, pushID, userID])
        }
    }

    /// A read of deliveries that sees every record queued before it by ``queueDelivered``. The reads of devices,
    /// aliases and pushes do not wait: nothing is queued for them.
    func settledRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        await writer.settled()
        return try await pool.read(body)
    }

    /// Points a delivery at a resent copy.
    public func rebase(pushID: Int64, userID: Int64, seq: Int64, expiresAt: Int64) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE delivery SET status = 'delivered', seq = ?, expires_at = ?, outcome_at = NULL, error = NULL
                    WHERE push_id = ? AND user_id = ?
                    """,
                arguments: [seq, expiresAt, pushID, userID])
        }
    }

    /// Records a receipt or an expiry.
    public func setOutcome(pushID: Int64, userID: Int64, status: DeliveryStatus, at: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE delivery SET status = ?, outcome_at = ? WHERE push_id = ? AND user_id = ?",
                           arguments: [status.rawValue, at, pushID, userID])
        }
    }

    /// Sets the next step and deadline and releases the claim.
    public func schedule(pushID: Int64, userID: Int64, step: Int, dueAt: Int64?) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE delivery SET step = ?, due_at = ?, lease_until = NULL WHERE push_id = ? AND user_id = ?",
                arguments: [step, dueAt, pushID, userID])
        }
    }

    /// Claims due deliveries.
    public func claimDue(now: Int64, leaseUntil: Int64, limit: Int) async throws -> [DeliveryRecord] {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM delivery WHERE due_at IS NOT NULL AND due_at <= ?
                    AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?
                    """,
                arguments: [now, now, limit])
            let claim = try db.cachedStatement(sql: "UPDATE delivery SET lease_until = ? WHERE push_id = ? AND user_id = ?")
            for row in rows {
                try claim.execute(arguments: [leaseUntil, row["push_id"] as Int64, row["user_id"] as Int64])
            }
            return rows.map(Self.delivery(from:))
        }
    }

    /// Delivered, unreceived deliveries whose TTL ended.
    public func expiredUnreceived(now: Int64, limit: Int) async throws -> [DeliveryRecord] {
        try await settledRead { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM delivery WHERE status = 'delivered' AND expires_at IS NOT NULL AND expires_at <= ?
                    ORDER BY expires_at LIMIT ?
                    """,
                arguments: [now, limit]
            ).map(Self.delivery(from:))
        }
    }

    /// Records an escalation.
    public func recordEscalation(_ e: EscalationRecord) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO escalation (push_id, user_id, step, action, at, outcome) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (push_id, user_id, step) DO NOTHING
                    """,
                arguments: [e.pushID, e.userID, e.step, e.action, e.at, e.outcome])
        }
    }

    /// The escalations of a push.
    public func escalations(pushID: Int64) async throws -> [EscalationRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM escalation WHERE push_id = ? ORDER BY id", arguments: [pushID]).map {
                EscalationRecord(pushID: $0["push_id"], userID: $0["user_id"], step: $0["step"], action: $0["action"],
                                 at: $0["at"], outcome: $0["outcome"])
            }
        }
    }
}
