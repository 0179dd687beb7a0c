import Foundation
import GRDB
import IMProtocol

/// The embedded store: one SQLite file in WAL mode through GRDB, with schema migrations.
///
/// Writes are serialized by GRDB's single writer; reads run concurrently. `synchronous = FULL`
/// makes every acknowledged transaction survive a crash of the process or the machine.
public final class SQLiteHubStore: HubStore {
    let pool: DatabasePool
    let batcher: AppendBatcher
    /// The group commit of the small writes that sessions make at once (a login's device record): a reconnect
    /// storm of 5,000 sessions costs a few commits instead of 5,000 fsyncs in a row.
    let groupWriter: GroupCommitWriter
    /// What the writer remembers between sends (the rules' inputs, the inbox heads); GRDB holds it weakly.
    let memo: WriterMemo
    /// The inbox entries and history lists, written behind the appends.
    let backlog: WriterBacklog

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        pool = try DurableDatabase.open(path: path, migrator: Self.migrator)
        groupWriter = GroupCommitWriter(pool)
        let memo = WriterMemo()
        self.memo = memo
        batcher = AppendBatcher(beforeTurn: { db in try memo.forgetIfWrittenElsewhere(db) })
        pool.add(transactionObserver: memo)
        backlog = WriterBacklog(pool: pool, memo: memo)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE app (
                    appkey TEXT PRIMARY KEY NOT NULL,
                    name TEXT
                );
                CREATE TABLE user (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL REFERENCES app(appkey),
                    username TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    nickname TEXT, avatar TEXT, birthday TEXT, gender INTEGER,
                    signature TEXT, region TEXT, address TEXT, extras TEXT,
                    ctime INTEGER NOT NULL,
                    mtime INTEGER NOT NULL,
                    UNIQUE (appkey, username)
                );
                CREATE TABLE message (
                    msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    from_appkey TEXT NOT NULL,
                    from_id TEXT NOT NULL,
                    target_type TEXT NOT NULL,
                    target_appkey TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    msg_ctime INTEGER NOT NULL,
                    sender_user_id INTEGER NOT NULL,
                    request_id TEXT,
                    body BLOB NOT NULL
                );
                CREATE UNIQUE INDEX message_request ON message(sender_user_id, request_id) WHERE request_id IS NOT NULL;
                CREATE INDEX message_from ON message(from_appkey, from_id, msg_id);
                CREATE INDEX message_target ON message(target_appkey, target_id, msg_id);
                CREATE INDEX message_ctime ON message(msg_ctime);
                CREATE TABLE inbox (
                    user_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    msg_id INTEGER NOT NULL,
                    PRIMARY KEY (user_id, seq)
                ) WITHOUT ROWID;
                CREATE TABLE inbox_cursor (
                    user_id INTEGER NOT NULL,
                    device TEXT NOT NULL,
                    acked INTEGER NOT NULL,
                    PRIMARY KEY (user_id, device)
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v2: inbox expiry") { db in
            try db.execute(sql: """
                ALTER TABLE inbox ADD COLUMN expires_at INTEGER;
                CREATE INDEX inbox_expiry ON inbox(expires_at) WHERE expires_at IS NOT NULL;
                """)
        }
        m.registerMigration("v3: devices") { db in
            try db.execute(sql: """
                CREATE TABLE device (
                    user_id INTEGER NOT NULL,
                    device TEXT NOT NULL,
                    platform TEXT NOT NULL,
                    last_login INTEGER NOT NULL,
                    PRIMARY KEY (user_id, device)
                ) WITHOUT ROWID;
                """)
        }
        registerSocialMigration(&m)
        registerRuntimeAppsMigration(&m)
        registerEventLogMigration(&m)
        HistoryIndexer.registerMigration(&m)
        InboxQueue.registerMigration(&m)
        return m
    }

    /// Records the configured apps.
    public func syncApps(_ apps: [AppSettings]) async throws {
        try await pool.write { db in
            for app in apps {
                try db.execute(
                    sql: "INSERT INTO app (appkey, name) VALUES (?, ?) ON CONFLICT(appkey) DO UPDATE SET name = excluded.name",
                    arguments: [app.appKey, app.name])
            }
        }
    }

    /// Inserts an account unless its username is taken in the app.
    public func insertUser(appKey: String, username: String, kind: FromType, passwordHash: String, profile: Profile,
                           now: Int64) async throws -> User? {
        try await pool.write { db -> User? in
            try db.execute(
                sql: """
                    INSERT INTO user (appkey, username, kind, password_hash, nickname, avatar, birthday, gender,
                                      signature, region, address, extras, ctime, mtime)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(appkey, username) DO NOTHING
                    """,
                arguments: [appKey, username, kind.rawValue, passwordHash, profile.nickname, profile.avatar,
                            profile.birthday, profile.gender, profile.signature, profile.region, profile.address,
                            profile.extras.map { JSONValue.object($0).serializedString() }, now, now])
            guard db.changesCount == 1 else { return nil }
            return User(id: db.lastInsertedRowID, appKey: appKey, username: username, kind: kind, profile: profile,
                        ctime: now, mtime: now)
        }
    }

    /// The account with this username in this app.
    public func user(appKey: String, username: String) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM user WHERE appkey = ? AND username = ?"),
                             arguments: [appKey, username]).map(Self.user(from:))
        }
    }

    /// The account, its password hash and its forbidden flag in one read (a login).
    public func credentials(appKey: String, username: String) async throws -> LoginCredentials? {
        try await readOneStatement { db in
            try Row.fetchOne(try db.cachedStatement(
                sql: "SELECT \(Self.userColumns), password_hash, forbidden FROM user WHERE appkey = ? AND username = ?"),
                arguments: [appKey, username]).map { row in
                    LoginCredentials(user: Self.user(fromColumns: row), passwordHash: row[14], forbidden: row[15])
                }
        }
    }

    /// The bcrypt hash of an account's password.
    public func passwordHash(userID: Int64) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(try db.cachedStatement(sql: "SELECT password_hash FROM user WHERE id = ?"), arguments: [userID])
        }
    }

    /// Replaces an account's password hash.
    public func setPasswordHash(userID: Int64, hash: String, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE user SET password_hash = ?, mtime = ? WHERE id = ?", arguments: [hash, now, userID])
        }
    }

    /// The columns ``user(fromColumns:)`` reads, in its order.
    static let userColumns = "id, appkey, username, kind, nickname, avatar, birthday, gender, signature, region, address, extras, ctime, mtime"

    /// A user from a row of ``userColumns``, read by position: on the send path, where a lookup by name costs a
    /// lowercased copy of the name per column (GRDB's case-insensitive column lookup).
    static func user(fromColumns row: Row) -> User {
        let extras: [String: JSONValue]? = (row[11] as String?).flatMap { try? JSONValue.parse($0).objectValue }
        return User(
            id: row[0], appKey: row[1], username: row[2],
            kind: FromType(rawValue: row[3]) ?? .user,
            profile: Profile(nickname: row[4], avatar: row[5], birthday: row[6], gender: row[7], signature: row[8],
                             region: row[9], address: row[10], extras: extras),
            ctime: row[12], mtime: row[13])
    }

    static func user(from row: Row) -> User {
        let extras: [String: JSONValue]? = (row["extras"] as String?).flatMap { try? JSONValue.parse($0).objectValue }
        return User(
            id: row["id"], appKey: row["appkey"], username: row["username"],
            kind: FromType(rawValue: row["kind"]) ?? .user,
            profile: Profile(nickname: row["nickname"], avatar: row["avatar"], birthday: row["birthday"],
                             gender: row["gender"], signature: row["signature"], region: row["region"],
                             address: row["address"], extras: extras),
            ctime: row["ctime"], mtime: row["mtime"])
    }

    /// Stores the message and its inbox entries; concurrent appends share one transaction (group commit, see
    /// `AppendBatcher`), and each returns only after that transaction committed.
    public func append(_ pending: PendingMessage) async throws -> AppendResult {
        let memo = memo
        let result = try await batcher.append(pending, pool: pool) { db, pending in
            try Self.append(db, pending, memo: memo)
        }
        backlog.noteAppended()
        return result
    }

    /// A single-chat send queued for the writer: its rules' reads, `decide` and its append in the writer's
    /// transaction, in the order of the calls (see `AppendBatcher`); returns without waiting for the commit.
    public func submitSingle(senderID: Int64, recipient: (appKey: String, username: String),
                             decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                             done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) async {
        _ = submitSingleNow(senderID: senderID, recipient: recipient, decide: decide, done: done)
    }

    /// The writer takes sends from any thread.
    public var submitsSinglesNow: Bool { true }

    /// Queues the send for the writer's next turn, from any thread: always possible here.
    public func submitSingleNow(senderID: Int64, recipient: (appKey: String, username: String),
                                decide: @escaping @Sendable (SendContext) throws -> PendingMessage,
                                done: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) -> Bool {
        let (memo, backlog) = (memo, backlog)
        batcher.submit(pool: pool, { db in
            let context = try memo.sendContext(db, senderID: senderID, recipient: recipient)
            return try Self.append(db, try decide(context), memo: memo)
        }, done: { result in
            if case .success = result { backlog.noteAppended() }
            done(result)
        })
        return true
    }

    /// One append inside the caller's transaction (the writer's: `memo` is the writer's), in a turn of the
    /// `AppendBatcher` only: the turn's start makes the memo forget what another connection changed, which its
    /// heads and its empty queue rely on.
    static func append(_ db: Database, _ pending: PendingMessage, memo: WriterMemo) throws -> AppendResult {
        let m = pending.message
        let body = pending.messageJSON
        let ctime = max(pending.now, try memo.lastMessageCtime(db))
        let (msgID, entries) = try memo.appending { () throws -> (Int64?, [(userID: Int64, seq: Int64)]) in
            // A repeated request id is the only conflict: the insert is skipped and the first message returned
            // below. Skipping the lookup before every insert saves a descent of the request index per message.
            try db.cachedStatement(
                sql: """
                    INSERT INTO message (from_appkey, from_id, target_type, target_appkey, target_id, msg_ctime,
                                         sender_user_id, request_id, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """).execute(
                arguments: [m.fromAppKey ?? "", m.fromID, m.targetType.rawValue, m.targetAppKey ?? m.fromAppKey ?? "",
                            m.targetID, ctime, pending.senderUserID, pending.requestID, Data(body)])
            guard db.changesCount == 1 else { return (nil, []) }
            let msgID = db.lastInsertedRowID
            var entries: [(userID: Int64, seq: Int64)] = []
            entries.reserveCapacity(pending.recipients.count)
            // Each inbox's head is read once per message however many entries it gets, and from memory after the
            // first message (`WriterMemo`).
            var heads: [Int64: Int64] = [:]
            for userID in pending.recipients {
                let seq = try (heads[userID] ?? memo.head(db, userID: userID)) + 1
                heads[userID] = seq
                entries.append((userID, seq))
            }
            if entries.isEmpty {
                // No inbox to write (a no-offline message nobody listens for).
            } else if try entries.count > InboxQueue.directLimit || !memo.inboxQueueIsEmpty(db) {
                // Many inboxes: one row for the message, moved into them a moment later (`InboxQueue`). Also when
                // entries are queued already, so that each inbox's queued entries follow all of its others.
                try InboxQueue.enqueue(db, msgID: msgID, entries: entries, quiet: pending.quiet,
                                       expiresAt: pending.expiresAt)
                memo.queued()
            } else {
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO inbox (user_id, seq, msg_id, expires_at, quiet) VALUES (?, ?, ?, ?, ?)")
                for (userID, seq) in entries {
                    try insert.execute(arguments: [userID, seq, msgID, pending.expiresAt, pending.quiet.contains(userID)])
                }
            }
            memo.appended(ctime: ctime, heads: heads)
            return (msgID, entries)
        }
        guard let msgID else {
            guard let requestID = pending.requestID, let row = try Row.fetchOne(
                try db.cachedStatement(sql: "SELECT msg_id, msg_ctime, body FROM message WHERE sender_user_id = ? AND request_id = ?"),
                arguments: [pending.senderUserID, requestID]) else {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "message not stored and no earlier one with its request id")
            }
            return AppendResult(stored: try Self.stored(from: row), entries: [], duplicate: true)
        }
        var result = AppendResult(stored: StoredMessage(msgID: msgID, msgCtime: ctime, message: m), entries: entries,
                                  duplicate: false, messageJSON: body)
        result.quiet = pending.quiet
        return result
    }

    /// Runs `read`, whose statements each stand alone, outside a transaction: SQLite runs every statement on a
    /// snapshot of its own, and GRDB's `read` adds a BEGIN and a COMMIT around it, two more statements prepared on
    /// every call. For the reads of every login (the reconnect storm).
    func readOneStatement<T: Sendable>(_ read: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.unsafeRead(read)
    }

    /// A message from a row of `msg_id`, `msg_ctime` and `body`.
    static func stored(from row: Row) throws -> StoredMessage {
        try stored(from: row, body: row["body"])
    }

    /// A message from a row's `msg_id` and `msg_ctime` and its `body` (the message's JSON), read by the caller.
    static func stored(from row: Row, body: Data) throws -> StoredMessage {
        StoredMessage(msgID: row["msg_id"], msgCtime: row["msg_ctime"], message: try Message(json: try JSONValue.parse(body)))
    }

    /// Unexpired inbox entries after `after`, in order: those in `inbox`, then those still queued
    /// (``InboxQueue``), which follow them, read in the same snapshot. Reading never writes.
    public func inbox(userID: Int64, after: Int64, limit: Int, now: Int64) async throws -> [InboxEntry] {
        try await pool.read { db in
            var entries = try Row.fetchAll(
                try db.cachedStatement(sql: """
                    SELECT inbox.seq, inbox.quiet, inbox.event, message.msg_id, message.msg_ctime, message.body
                    FROM inbox LEFT JOIN message ON message.msg_id = inbox.msg_id
                    WHERE inbox.user_id = ? AND inbox.seq > ? AND (inbox.expires_at IS NULL OR inbox.expires_at > ?)
                    AND (inbox.event IS NOT NULL OR message.retracted = 0)
                    ORDER BY inbox.seq LIMIT ?
                    """),
                arguments: [userID, after, now, limit]
            ).map { row in
                if let event = row["event"] as Data? {
                    return InboxEntry(seq: row["seq"], event: try ChatEvent(json: try JSONValue.parse(event)))
                }
                return try Self.entry(seq: row["seq"], quiet: row["quiet"], messageRow: row)
            }
            guard entries.count < limit else { return entries }
            // `retracted = 0` and the expiry as for the rows above, though a retraction or an expiry moves the queue
            // first: the same filters on both parts, whatever changes later.
            let message = try db.cachedStatement(sql: "SELECT msg_id, msg_ctime, body FROM message WHERE msg_id = ? AND retracted = 0")
            for queued in try InboxQueue.entries(db, userID: userID, after: entries.last?.seq ?? after) {
                if let expiresAt = queued.expiresAt, expiresAt <= now { continue }
                guard let row = try Row.fetchOne(message, arguments: [queued.msgID]) else { continue }
                entries.append(try Self.entry(seq: queued.seq, quiet: queued.quiet, messageRow: row))
                if entries.count == limit { break }
            }
            return entries
        }
    }

    /// A message entry from a row with the message's `msg_id`, `msg_ctime` and `body`.
    static func entry(seq: Int64, quiet: Bool, messageRow row: Row) throws -> InboxEntry {
        // The body is the message's JSON as the writer serialized it: the frame splices it as the live path does,
        // instead of serializing the parsed message again (3.7 % of a reconnect storm's CPU).
        let body: Data = row["body"]
        let stored = try Self.stored(from: row, body: body)
        return InboxEntry(seq: seq, stored: stored, noNotification: quiet, encoded: EncodedDelivery(stored, messageJSON: Array(body)))
    }

    /// Deletes expired inbox entries; the highest entry of each inbox is kept so sequence numbers never repeat.
    public func purgeExpired(now: Int64) async throws -> Int {
        let memo = memo
        return try await pool.write { db in
            try InboxQueue.materializeAll(db, memo: memo)
            try db.execute(
                sql: """
                    DELETE FROM inbox WHERE expires_at IS NOT NULL AND expires_at <= ?
                    AND seq < (SELECT MAX(i2.seq) FROM inbox AS i2 WHERE i2.user_id = inbox.user_id)
                    """,
                arguments: [now])
            return db.changesCount
        }
    }

    /// Records a device's login.
    public func recordLogin(userID: Int64, device: String, platform: String, now: Int64) async throws {
        try await groupWriter.write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO device (user_id, device, platform, last_login) VALUES (?, ?, ?, ?)
                    ON CONFLICT(user_id, device) DO UPDATE SET platform = excluded.platform, last_login = excluded.last_login
                    """).execute(
                arguments: [userID, device, platform, now])
        }
    }

    /// The devices a user has logged in from.
    public func devices(userID: Int64) async throws -> [(device: String, platform: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT device, platform FROM device WHERE user_id = ? ORDER BY device",
                             arguments: [userID]).map { (device: $0["device"], platform: $0["platform"]) }
        }
    }

    /// A device's acknowledged sequence number.
    public func cursor(userID: Int64, device: String) async throws -> Int64 {
        try await readOneStatement { db in
            try Int64.fetchOne(try db.cachedStatement(sql: "SELECT acked FROM inbox_cursor WHERE user_id = ? AND device = ?"),
                               arguments: [userID, device]) ?? 0
        }
    }

    /// Moves a device's cursor forward; the advances of all sessions waiting share one transaction with the
    /// appends waiting (see `AppendBatcher`), and each returns only after that transaction committed.
    public func advanceCursor(userID: Int64, device: String, to seq: Int64) async throws {
        try await batcher.advance(userID: userID, device: device, to: seq, pool: pool)
    }

    /// One page of history, ascending by id (and so by time): the messages through the history index's position
    /// found from their keys' lists (`HistoryIndexer`), the few after it read from `message` itself, each checked
    /// against the query's own conditions.
    public func history(_ q: HistoryQuery) async throws -> HistoryPage {
        try await pool.read { db in
            var filter: String
            var args: StatementArguments
            let key: HistoryIndexer.Key
            if let conversation = q.conversation {
                filter = "(target_type = ? AND target_appkey = ? AND target_id = ?)"
                args = [conversation.type.rawValue, q.appKey, conversation.id]
                key = .target(type: conversation.type.rawValue, appKey: q.appKey, id: conversation.id)
            } else if let username = q.username {
                filter = """
                    ((from_appkey = ? AND from_id = ?) OR (target_type = 'single' AND target_appkey = ? AND target_id = ?))
                    """
                args = [q.appKey, username, q.appKey, username]
                key = .user(appKey: q.appKey, name: username)
            } else {
                filter = "(from_appkey = ? OR target_appkey = ?)"
                args = [q.appKey, q.appKey]
                key = .app(q.appKey)
            }
            // `+msg_ctime`: not through the `msg_ctime` index, which SQLite may otherwise prefer to the ids' lookups and
            // scan the whole time range for each chunk of ids.
            filter += " AND retracted = 0 AND +msg_ctime >= ? AND +msg_ctime <= ?"
            args += [q.beginTime, q.endTime]
            let position = try HistoryIndexer.position(db)
            // The indexed candidates, checked in chunks of a fixed size (a short one padded with its last id), so
            // that each query shape is one cached statement.
            let candidates = try HistoryIndexer.ids(db, key)
            let chunk = 500
            let inList = "msg_id IN (" + repeatElement("?", count: chunk).joined(separator: ",") + ")"
            func chunkArguments(_ start: Int) -> StatementArguments {
                let ids = candidates[start..<min(start + chunk, candidates.count)]
                return StatementArguments(Array(ids) + repeatElement(ids.last!, count: chunk - ids.count))
            }
            let countChunk = try db.cachedStatement(sql: "SELECT COUNT(*) FROM message WHERE \(inList) AND \(filter)")
            var total = 0
            for start in stride(from: 0, to: candidates.count, by: chunk) {
                total += try Int.fetchOne(countChunk, arguments: chunkArguments(start) + args) ?? 0
            }
            total += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE msg_id > ? AND \(filter)",
                                      arguments: [position] + args) ?? 0
            var rows: [Row] = []
            let pageChunk = try db.cachedStatement(
                sql: "SELECT msg_id, msg_ctime, body FROM message WHERE \(inList) AND \(filter) ORDER BY msg_id LIMIT ?")
            var start = candidates.firstIndex { $0 > q.afterMsgID } ?? candidates.count
            while rows.count < q.count, start < candidates.count {
                rows += try Row.fetchAll(pageChunk, arguments: chunkArguments(start) + args + [q.count - rows.count])
                start += chunk
            }
            if rows.count < q.count {
                rows += try Row.fetchAll(
                    db, sql: "SELECT msg_id, msg_ctime, body FROM message WHERE msg_id > ? AND \(filter) ORDER BY msg_id LIMIT ?",
                    arguments: [max(position, q.afterMsgID)] + args + [q.count - rows.count])
            }
            return HistoryPage(total: total, messages: try rows.map(Self.stored(from:)))
        }
    }

    // MARK: Receipts (the push bridge)

    /// The sequence number of a message's entry in a user's inbox; read from the inbox's end, where a message
    /// just sent is.
    public func inboxSeq(userID: Int64, msgID: Int64) async throws -> Int64? {
        try await pool.read { db in
            if let seq = try Int64.fetchOne(
                db, sql: "SELECT seq FROM inbox WHERE user_id = ? AND msg_id = ? ORDER BY seq DESC LIMIT 1",
                arguments: [userID, msgID]) {
                return seq
            }
            // Or still queued (``InboxQueue``), in the same snapshot.
            return try InboxQueue.entries(db, msgID: msgID).last { $0.userID == userID }?.seq
        }
    }

    /// Sets one inbox entry's expiry.
    public func setInboxExpiry(userID: Int64, seq: Int64, expiresAt: Int64) async throws {
        let memo = memo
        try await pool.write { db in
            try InboxQueue.materializeAll(db, memo: memo)
            try db.execute(sql: "UPDATE inbox SET expires_at = ? WHERE user_id = ? AND seq = ?",
                           arguments: [expiresAt, userID, seq])
        }
    }

    /// The highest acknowledged sequence number over a user's devices.
    public func highestCursor(userID: Int64) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(acked) FROM inbox_cursor WHERE user_id = ?", arguments: [userID]) ?? 0
        }
    }
}
