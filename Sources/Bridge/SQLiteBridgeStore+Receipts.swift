import GRDB
import Hub
import IMProtocol

/// The receipt callbacks of pushes (`callback: {url, params, type}`) as an outbox: the callback is stored with its
/// push in the push's own transaction, and what was reported is recorded here once the receiver answered 200, so
/// every report goes out at least once, across restarts and kill -9.
extension SQLiteBridgeStore {
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

    /// A push whose receipts are still to be reported.
    public struct PendingReceipts: Sendable, Equatable {
        /// The push, with its callback.
        public var push: PushRecord
        /// Whether "accepted" (type 8) was reported.
        public var acceptedReported: Bool
        /// The accounts whose "delivered" (type 1) was reported.
        public var deliveredReported: Set<Int64>
    }

    /// Up to `limit` pushes with receipts still to report and a msg_id above `after`, oldest first.
    public func pendingReceipts(after: Int64 = 0, limit: Int) async throws -> [PendingReceipts] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM push WHERE callback IS NOT NULL AND callback_done = 0 AND msg_id > ? ORDER BY msg_id LIMIT ?
                """, arguments: [after, limit]).map { row in
                let id: Int64 = row["msg_id"]
                let sent = try Int64.fetchAll(db, sql: "SELECT user_id FROM receipt_sent WHERE push_id = ?", arguments: [id])
                return PendingReceipts(push: try Self.pushRecord(from: row), acceptedReported: row["callback_accepted"],
                                       deliveredReported: Set(sent))
            }
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
