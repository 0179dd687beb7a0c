import Bridge
import Hub
import IMProtocol
import PostgresNIO

/// The receipt callbacks of pushes on PostgreSQL: the callback is stored with its push in the push's transaction,
/// what was reported is recorded once (a flag for "accepted", a row per account for "delivered"), and the pushes with
/// something to report are claimed with `FOR UPDATE SKIP LOCKED` and an owner/expiry, so each node's dispatcher
/// takes its own and a dead node's claims lapse to the others.
extension PostgresBridgeStore: ReceiptStore {
    /// Receipt callbacks are kept with their push.
    public var keepsReceiptCallbacks: Bool { true }

    /// The callback columns of `bridge_push` and the reported accounts (run by every node at start, one at a time
    /// under the migration lock).
    static let receiptMigration = PostgresMigration(component: "bridge", name: "v3 receipt callbacks", statements: [
        """
        ALTER TABLE bridge_push ADD COLUMN callback TEXT, ADD COLUMN callback_type BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN callback_accepted BOOLEAN NOT NULL DEFAULT false,
            ADD COLUMN callback_done BOOLEAN NOT NULL DEFAULT false,
            ADD COLUMN callback_owner TEXT, ADD COLUMN callback_until BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN callback_failures BIGINT NOT NULL DEFAULT 0
        """,
        "CREATE INDEX bridge_push_callback_pending ON bridge_push(msg_id) WHERE callback IS NOT NULL AND NOT callback_done",
        """
        CREATE TABLE bridge_receipt_sent (
            push_id BIGINT NOT NULL REFERENCES bridge_push(msg_id), user_id BIGINT NOT NULL, PRIMARY KEY (push_id, user_id))
        """,
    ])

    static func pending(_ c: PostgresConnection, _ rows: [PostgresRandomAccessRow]) async throws -> [PendingReceipts] {
        let ids = try rows.map { try $0.get("msg_id", as: Int64.self) }
        var sent: [Int64: Set<Int64>] = [:]
        if !ids.isEmpty {
            for row in try await c.rows("""
                SELECT push_id, user_id FROM bridge_receipt_sent WHERE push_id = ANY(\(ids)::bigint[])
                """) {
                sent[try row.get("push_id", as: Int64.self), default: []].insert(try row.get("user_id", as: Int64.self))
            }
        }
        return try rows.map { row in
            let push = try Self.pushRecord(from: row)
            return PendingReceipts(push: push, acceptedReported: try row.get("callback_accepted"),
                                   deliveredReported: sent[push.msgID] ?? [],
                                   failures: Int(try row.get("callback_failures", as: Int64.self)))
        }.sorted { $0.push.msgID < $1.push.msgID }
    }

    /// Up to `limit` pushes with receipts still to report and a msg_id above `after`, oldest first.
    public func pendingReceipts(after: Int64, limit: Int) async throws -> [PendingReceipts] {
        try await database.read { c in
            try await Self.pending(c, try await c.rows("""
                SELECT * FROM bridge_push WHERE callback IS NOT NULL AND NOT callback_done AND msg_id > \(after)
                ORDER BY msg_id LIMIT \(Int64(limit))
                """))
        }
    }

    /// Claims the pushes with something to report now (see ``ReceiptStore``); rows another node is claiming are
    /// skipped, not waited for.
    public func claimReceipts(owner: String, now: Int64, until: Int64, limit: Int) async throws -> [PendingReceipts] {
        try await database.write { c in
            try await Self.pending(c, try await c.rows("""
                UPDATE bridge_push AS p SET callback_owner = \(owner), callback_until = \(until)
                FROM (SELECT msg_id FROM bridge_push AS q
                      WHERE callback IS NOT NULL AND NOT callback_done
                        AND (callback_until <= \(now) OR callback_owner = \(owner))
                        AND (((callback_type & 8) <> 0 AND NOT callback_accepted)
                             OR (callback_type & 1) = 0
                             OR EXISTS (SELECT 1 FROM bridge_delivery d
                                        WHERE d.push_id = q.msg_id AND d.status = 'received'
                                          AND NOT EXISTS (SELECT 1 FROM bridge_receipt_sent s
                                                          WHERE s.push_id = d.push_id AND s.user_id = d.user_id))
                             OR NOT EXISTS (SELECT 1 FROM bridge_delivery d
                                            WHERE d.push_id = q.msg_id AND d.status IN ('pending', 'delivered')))
                      ORDER BY msg_id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED) AS due
                WHERE p.msg_id = due.msg_id
                RETURNING p.*
                """))
        }
    }

    /// Gives a claim up, with the push's retry time and failures in a row.
    public func releaseReceipts(pushID: Int64, owner: String, retryAt: Int64, failures: Int) async throws {
        try await database.write { c in
            try await c.run("""
                UPDATE bridge_push SET callback_owner = NULL, callback_until = \(retryAt), callback_failures = \(Int64(failures))
                WHERE msg_id = \(pushID) AND callback_owner = \(owner)
                """)
        }
    }

    /// Records that "accepted" was reported.
    public func acceptedReported(pushID: Int64) async throws {
        try await database.write { c in
            try await c.run("UPDATE bridge_push SET callback_accepted = true WHERE msg_id = \(pushID)")
        }
    }

    /// Records that "delivered" was reported for one account (once: a second node's record of it is dropped).
    public func deliveredReported(pushID: Int64, userID: Int64) async throws {
        try await database.write { c in
            try await c.run("""
                INSERT INTO bridge_receipt_sent (push_id, user_id) VALUES (\(pushID), \(userID)) ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Records that nothing more will be reported for a push.
    public func receiptsDone(pushID: Int64) async throws {
        try await database.write { c in
            try await c.run("UPDATE bridge_push SET callback_done = true WHERE msg_id = \(pushID)")
        }
    }
}
