import Foundation
import Hub
import IMProtocol
import PostgresNIO
import Synchronization

/// Group commit for `PostgresHubStore.append`: appends that arrive while a transaction is running wait and are
/// then stored together in the next one, so N concurrent messages cost one commit (one WAL flush) instead of N.
///
/// Each append runs in its own savepoint, so one failing append fails alone; a message is answered only after the
/// transaction holding it committed ("durable before sent"). Self-contained: the append itself is
/// `PostgresHubStore.append(_:_:clock:)`.
final class PostgresAppendBatcher: Sendable {
    typealias Waiter = CheckedContinuation<AppendResult, any Error>

    private struct State {
        var queue: [(pending: PendingMessage, waiter: Waiter)] = []
        var writing = false
    }

    private let state = Mutex(State())
    private let database: PostgresStorage
    /// The most appends one transaction takes, to bound the latency of the first of them.
    let maxBatch: Int

    init(database: PostgresStorage, maxBatch: Int = 256) {
        self.database = database
        self.maxBatch = maxBatch
    }

    /// Queues `pending`; the first append to find no transaction running starts the writer.
    func append(_ pending: PendingMessage) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let lead = state.withLock { s in
                s.queue.append((pending, waiter))
                if s.writing { return false }
                s.writing = true
                return true
            }
            if lead {
                Task { await self.drain() }
            }
        }
    }

    /// Writes batches until the queue is empty.
    private func drain() async {
        while true {
            let batch: [(pending: PendingMessage, waiter: Waiter)] = state.withLock { s in
                if s.queue.isEmpty {
                    s.writing = false
                    return []
                }
                let n = min(maxBatch, s.queue.count)
                let taken = Array(s.queue.prefix(n))
                s.queue.removeFirst(n)
                return taken
            }
            if batch.isEmpty { return }
            let pendings = batch.map(\.pending)
            do {
                let results = try await database.write { c -> [Result<AppendResult, any Error>] in
                    // The clock row serializes appends across nodes so that ids and times ascend together.
                    var clock = try await c.value(Int64.self, "SELECT ctime FROM message_clock WHERE id = 1 FOR UPDATE") ?? 0
                    var results: [Result<AppendResult, any Error>] = []
                    results.reserveCapacity(pendings.count)
                    for pending in pendings {
                        try await c.run("SAVEPOINT append")
                        do {
                            let result = try await PostgresHubStore.append(c, pending, clock: &clock)
                            try await c.run("RELEASE SAVEPOINT append")
                            results.append(.success(result))
                        } catch {
                            try await c.run("ROLLBACK TO SAVEPOINT append")
                            results.append(.failure(error))
                        }
                    }
                    try await c.run("UPDATE message_clock SET ctime = \(clock) WHERE id = 1")
                    return results
                }
                for (item, result) in zip(batch, results) { item.waiter.resume(with: result) }
            } catch {
                // The transaction itself failed to commit: none of the batch is stored.
                for item in batch { item.waiter.resume(throwing: error) }
            }
        }
    }
}

extension PostgresHubStore {
    /// One append inside the caller's transaction; `clock` is the latest `msg_ctime`, moved forward.
    static func append(_ c: PostgresConnection, _ pending: PendingMessage, clock: inout Int64) async throws -> AppendResult {
        let m = pending.message
        let ctime = max(pending.now, clock)
        let body = ByteBuffer(bytes: m.json.serialized())
        let inserted = try await c.value(Int64.self, """
            INSERT INTO message (from_appkey, from_id, target_type, target_appkey, target_id, msg_ctime,
                                 sender_user_id, request_id, body)
            VALUES (\(m.fromAppKey ?? ""), \(m.fromID), \(m.targetType.rawValue), \(m.targetAppKey ?? m.fromAppKey ?? ""),
                    \(m.targetID), \(ctime), \(pending.senderUserID), \(pending.requestID), \(body))
            ON CONFLICT (sender_user_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
            RETURNING msg_id
            """)
        guard let msgID = inserted else {
            // The request id was seen before: answer with what that request stored.
            guard let row = try await c.row("""
                SELECT msg_id, msg_ctime, body FROM message
                WHERE sender_user_id = \(pending.senderUserID) AND request_id = \(pending.requestID)
                """) else { throw HubError.storage }
            return AppendResult(stored: try stored(from: row), entries: [], duplicate: true)
        }
        clock = ctime
        let seqs = try await takeSeqs(c, for: pending.recipients)
        if !seqs.isEmpty {
            let quiet = pending.recipients.map { pending.quiet.contains($0) }
            try await c.run("""
                INSERT INTO inbox (user_id, seq, msg_id, expires_at, quiet)
                SELECT u, s, \(msgID), \(pending.expiresAt), q
                FROM unnest(\(pending.recipients)::bigint[], \(seqs)::bigint[], \(quiet)::boolean[]) AS t(u, s, q)
                """)
        }
        return AppendResult(stored: StoredMessage(msgID: msgID, msgCtime: ctime, message: m),
                            entries: zip(pending.recipients, seqs).map { (userID: $0, seq: $1) }, duplicate: false)
    }

    /// The next sequence numbers of the inboxes of `recipients` (one per occurrence, in order), taken from
    /// `inbox_head` in one upsert; rows are locked in id order so that concurrent writers cannot deadlock on them.
    static func takeSeqs(_ c: PostgresConnection, for recipients: [Int64]) async throws -> [Int64] {
        guard !recipients.isEmpty else { return [] }
        var counts: [Int64: Int64] = [:]
        for id in recipients { counts[id, default: 0] += 1 }
        let ids = counts.keys.sorted()
        let ns = ids.map { counts[$0]! }
        var heads: [Int64: Int64] = [:]
        for row in try await c.rows("""
            INSERT INTO inbox_head (user_id, seq)
            SELECT u, n FROM unnest(\(ids)::bigint[], \(ns)::bigint[]) AS t(u, n) ORDER BY u
            ON CONFLICT (user_id) DO UPDATE SET seq = inbox_head.seq + excluded.seq
            RETURNING user_id, seq
            """) {
            let id = try row.get("user_id", as: Int64.self)
            // The first number this append takes for the inbox.
            heads[id] = try row.get("seq", as: Int64.self) - counts[id]! + 1
        }
        return try recipients.map { id in
            guard let seq = heads[id] else { throw HubError.storage }
            heads[id] = seq + 1
            return seq
        }
    }
}
