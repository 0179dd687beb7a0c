import Foundation
import Hub
import IMProtocol
import PostgresNIO
import Synchronization

/// Group commit for `PostgresHubStore.append`: appends that arrive while a transaction is running wait and are
/// then stored together in the next one, so N concurrent messages cost one commit (one WAL flush) instead of N.
///
/// One failing append fails alone: the batch runs in one savepoint and, when that fails, again with a savepoint per
/// append. A message is answered only after the transaction holding it committed ("durable before sent").
/// Self-contained: the append itself is `PostgresHubStore.append(_:_:clock:)`.
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
                    let start = try await c.value(Int64.self, "SELECT ctime FROM message_clock WHERE id = 1 FOR UPDATE") ?? 0
                    var clock = start
                    var results: [Result<AppendResult, any Error>] = []
                    results.reserveCapacity(pendings.count)
                    // The whole batch in a few statements (a handful of round trips, not five per message); if
                    // that fails, one savepoint per append, so that a failing append fails alone.
                    try await c.run("SAVEPOINT batch")
                    do {
                        results = try await PostgresHubStore.appendAll(c, pendings, clock: &clock)
                        try await c.run("RELEASE SAVEPOINT batch")
                    } catch {
                        try await c.run("ROLLBACK TO SAVEPOINT batch")
                        clock = start
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
    /// A batch of appends inside the caller's transaction, which holds the clock row: the message ids are drawn in
    /// order, then the messages, the inbox heads and the inbox entries are written in one statement each. A
    /// request id seen before (also earlier in the batch) answers with what that request stored. Written by hand
    /// for speed: per message, the one-at-a-time path costs five round trips in the serial writer, which bounded 1:1
    /// on PostgreSQL near 470 messages a second (BENCHMARKS.md).
    static func appendAll(_ c: PostgresConnection, _ pendings: [PendingMessage], clock: inout Int64) async throws
        -> [Result<AppendResult, any Error>] {
        let ids = try await c.rows("""
            SELECT nextval('message_msg_id_seq') AS id FROM generate_series(1, \(Int64(pendings.count)))
            """).map { try $0.get("id", as: Int64.self) }.sorted()
        guard ids.count == pendings.count else { throw HubError.storage }
        var ctimes: [Int64] = []
        ctimes.reserveCapacity(pendings.count)
        var time = clock
        for pending in pendings {
            time = max(pending.now, time)
            ctimes.append(time)
        }
        let messages = pendings.map(\.message)
        let inserted = Set(try await c.rows("""
            INSERT INTO message (msg_id, from_appkey, from_id, target_type, target_appkey, target_id, msg_ctime,
                                 sender_user_id, request_id, body)
            SELECT i, fa, fi, tt, ta, ti, ct, s, CASE WHEN hr THEN r END, b
            FROM unnest(\(ids)::bigint[], \(messages.map { $0.fromAppKey ?? "" })::text[],
                        \(messages.map(\.fromID))::text[], \(messages.map(\.targetType.rawValue))::text[],
                        \(messages.map { $0.targetAppKey ?? $0.fromAppKey ?? "" })::text[],
                        \(messages.map(\.targetID))::text[], \(ctimes)::bigint[], \(pendings.map(\.senderUserID))::bigint[],
                        \(pendings.map { $0.requestID ?? "" })::text[], \(pendings.map { $0.requestID != nil })::boolean[],
                        \(pendings.map { ByteBuffer(bytes: $0.messageJSON) })::bytea[])
                AS t(i, fa, fi, tt, ta, ti, ct, s, r, hr, b)
            ORDER BY i
            ON CONFLICT (sender_user_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
            RETURNING msg_id
            """).map { try $0.get("msg_id", as: Int64.self) })
        // Repeated request ids: what the first request stored (maybe earlier in this batch).
        var earlier: [String: StoredMessage] = [:]
        let repeats = pendings.indices.filter { !inserted.contains(ids[$0]) }
        if !repeats.isEmpty {
            for row in try await c.rows("""
                SELECT m.msg_id, m.msg_ctime, m.body, m.sender_user_id, m.request_id
                FROM message AS m JOIN unnest(\(repeats.map { pendings[$0].senderUserID })::bigint[],
                                              \(repeats.map { pendings[$0].requestID ?? "" })::text[]) AS t(s, r)
                  ON m.sender_user_id = t.s AND m.request_id = t.r
                """) {
                earlier["\(try row.get("sender_user_id", as: Int64.self)):\(try row.get("request_id", as: String.self))"] =
                    try stored(from: row)
            }
        }
        var recipients: [Int64] = [], rowMessages: [Int64] = [], rowExpiries: [Int64] = [], rowExpire: [Bool] = []
        var rowQuiet: [Bool] = []
        for (i, pending) in pendings.enumerated() where inserted.contains(ids[i]) {
            for userID in pending.recipients {
                recipients.append(userID)
                rowMessages.append(ids[i])
                rowExpiries.append(pending.expiresAt ?? 0)
                rowExpire.append(pending.expiresAt != nil)
                rowQuiet.append(pending.quiet.contains(userID))
            }
            clock = max(clock, ctimes[i])
        }
        let seqs = try await takeSeqs(c, for: recipients)
        if !seqs.isEmpty {
            try await c.run("""
                INSERT INTO inbox (user_id, seq, msg_id, expires_at, quiet)
                SELECT u, s, m, CASE WHEN he THEN e END, q
                FROM unnest(\(recipients)::bigint[], \(seqs)::bigint[], \(rowMessages)::bigint[], \(rowExpiries)::bigint[],
                            \(rowExpire)::boolean[], \(rowQuiet)::boolean[]) AS t(u, s, m, e, he, q)
                """)
        }
        var next = 0
        return pendings.enumerated().map { i, pending -> Result<AppendResult, any Error> in
            guard inserted.contains(ids[i]) else {
                guard let first = earlier["\(pending.senderUserID):\(pending.requestID ?? "")"] else {
                    return .failure(HubError.storage)
                }
                return .success(AppendResult(stored: first, entries: [], duplicate: true))
            }
            let entries = pending.recipients.map { userID -> (userID: Int64, seq: Int64) in
                defer { next += 1 }
                return (userID: userID, seq: seqs[next])
            }
            return .success(AppendResult(stored: StoredMessage(msgID: ids[i], msgCtime: ctimes[i], message: pending.message),
                                         entries: entries, duplicate: false, messageJSON: pending.messageJSON))
        }
    }

    /// One append inside the caller's transaction; `clock` is the latest `msg_ctime`, moved forward.
    static func append(_ c: PostgresConnection, _ pending: PendingMessage, clock: inout Int64) async throws -> AppendResult {
        let m = pending.message
        let ctime = max(pending.now, clock)
        let body = ByteBuffer(bytes: pending.messageJSON)
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
                            entries: zip(pending.recipients, seqs).map { (userID: $0, seq: $1) }, duplicate: false,
                            messageJSON: pending.messageJSON)
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
