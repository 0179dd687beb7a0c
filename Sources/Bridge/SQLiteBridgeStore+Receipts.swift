import GRDB
import Hub
import IMProtocol

/// The receipt callbacks of pushes (`callback: {url, params, type}`) as an outbox: the callback is stored with its
/// push in the push's own transaction, and what was reported is recorded here once the receiver answered 200, so
/// every report goes out at least once, across restarts and kill -9.
extension SQLiteBridgeStore: ReceiptStore {
    /// Receipt callbacks are kept with their push.
    public var keepsReceiptCallbacks: Bool { true }

    static func registerReceiptMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2: receipt callbacks") { db in
            try db.execute(sql: """
                ALTER TABLE push ADD COLUMN callback TEXT;
                ALTER TABLE push ADD COLUMN callback_accepted INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE push ADD COLUMN callback_done INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX push_callback_pending ON push(msg_id) WHERE callback IS NOT NULL AND callback_done = 0;
                CREATE TABLE receipt_sent (
                    push_id INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    PRIMARY KEY (push_id, user_id)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// The claim of a push's receipts (its owner and until when, ms, or the time it may be retried from) and its
    /// failures in a row: the same columns as on PostgreSQL, so one dispatcher serves both.
    static func registerReceiptClaimMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4 receipt claims") { db in
            try db.execute(sql: """
                ALTER TABLE push ADD COLUMN callback_owner TEXT;
                ALTER TABLE push ADD COLUMN callback_until INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE push ADD COLUMN callback_failures INTEGER NOT NULL DEFAULT 0;
                """)
        }
    }

    static func pending(_ db: Database, _ row: Row) throws -> PendingReceipts {
        let id: Int64 = row["msg_id"]
        let sent = try Int64.fetchAll(db, sql: "SELECT user_id FROM receipt_sent WHERE push_id = ?", arguments: [id])
        return PendingReceipts(push: try Self.pushRecord(from: row), acceptedReported: row["callback_accepted"],
                               deliveredReported: Set(sent), failures: row["callback_failures"])
    }

    /// Up to `limit` pushes with receipts still to report and a msg_id above `after`, oldest first.
    public func pendingReceipts(after: Int64, limit: Int) async throws -> [PendingReceipts] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM push WHERE callback IS NOT NULL AND callback_done = 0 AND msg_id > ? ORDER BY msg_id LIMIT ?
                """, arguments: [after, limit]).map { try Self.pending(db, $0) }
        }
    }

    /// Claims the pushes with something to report now (see ``ReceiptStore``).
    public func claimReceipts(owner: String, now: Int64, until: Int64, limit: Int) async throws -> [PendingReceipts] {
        try await writer.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM push AS p
                WHERE callback IS NOT NULL AND callback_done = 0 AND (callback_until <= ? OR callback_owner = ?)
                  AND (((json_extract(callback, '$.type') & 8) <> 0 AND callback_accepted = 0)
                       OR (json_extract(callback, '$.type') & 1) = 0
                       OR EXISTS (SELECT 1 FROM delivery d WHERE d.push_id = p.msg_id AND d.status = 'received'
                                  AND NOT EXISTS (SELECT 1 FROM receipt_sent s
                                                  WHERE s.push_id = d.push_id AND s.user_id = d.user_id))
                       OR NOT EXISTS (SELECT 1 FROM delivery d
                                      WHERE d.push_id = p.msg_id AND d.status IN ('pending', 'delivered')))
                ORDER BY msg_id LIMIT ?
                """, arguments: [now, owner, limit])
            let claim = try db.cachedStatement(sql: "UPDATE push SET callback_owner = ?, callback_until = ? WHERE msg_id = ?")
            return try rows.map { row in
                try claim.execute(arguments: [owner, until, row["msg_id"] as Int64])
                return try Self.pending(db, row)
            }
        }
    }

    /// Gives a claim up, with the push's retry time and failures in a row.
    public func releaseReceipts(pushID: Int64, owner: String, retryAt: Int64, failures: Int) async throws {
        try await writer.write { db in
            try db.execute(sql: """
                UPDATE push SET callback_owner = NULL, callback_until = ?, callback_failures = ?
                WHERE msg_id = ? AND callback_owner = ?
                """, arguments: [retryAt, failures, pushID, owner])
        }
    }

    /// Records that "accepted" was reported.
    public func acceptedReported(pushID: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE push SET callback_accepted = 1 WHERE msg_id = ?", arguments: [pushID])
        }
    }

    /// Records that "delivered" was reported for one account.
    public func deliveredReported(pushID: Int64, userID: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO receipt_sent (push_id, user_id) VALUES (?, ?)",
                           arguments: [pushID, userID])
        }
    }

    /// Records that nothing more will be reported for a push.
    public func receiptsDone(pushID: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE push SET callback_done = 1 WHERE msg_id = ?", arguments: [pushID])
        }
    }
}
