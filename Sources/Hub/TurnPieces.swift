import GRDB

/// The pieces of a writer's turn (`AppendBatcher`'s sends, `GroupCommitWriter`'s writes), run in the caller's one
/// transaction so that each failing piece fails alone, without a savepoint per piece: its `SAVEPOINT` and `RELEASE`
/// were 7 % of the hub's writer thread in the 1:1 profile. A piece that fails having changed no row has nothing to
/// undo; one that fails after writing throws ``FailedAfterWriting`` out of the transaction, and the writer runs the
/// turn again with a savepoint per piece (as `PostgresAppendBatcher` does). A piece may therefore run twice, and
/// must do nothing but read and write rows: SQLite does not count what DDL or a `PRAGMA` changes, so a piece that
/// did either and then failed would not be undone.
enum TurnPieces {
    /// Thrown out of a turn's transaction (rolling it back) when a piece run without a savepoint failed after it had
    /// written: its writes cannot be undone alone.
    struct FailedAfterWriting: Error {}

    /// Runs `body` for each piece in order, in the caller's transaction, and returns each outcome. Without
    /// `savepointEach`, a piece that fails having changed no row fails alone and one that changed rows throws
    /// ``FailedAfterWriting``; with it, each piece runs in a savepoint of its own.
    static func run<Piece, Value>(_ db: Database, _ pieces: [Piece], savepointEach: Bool,
                                  _ body: (Piece) throws -> Value) throws -> [Result<Value, any Error>] {
        var results: [Result<Value, any Error>] = []
        results.reserveCapacity(pieces.count)
        for piece in pieces {
            if savepointEach {
                do {
                    results.append(.success(try inSavepoint(db) { try body(piece) }))
                } catch {
                    results.append(.failure(error))
                }
                continue
            }
            let changes = db.totalChangesCount
            do {
                results.append(.success(try body(piece)))
            } catch {
                // SQLite counts every row a completed statement changed; a statement that failed undid its own.
                // Should SQLite have ended the transaction itself (a full disk), the turn fails as a whole.
                guard db.isInsideTransaction else { throw error }
                guard db.totalChangesCount == changes else { throw FailedAfterWriting() }
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Runs `work` in a savepoint of the caller's transaction, rolled back alone when it throws. GRDB's
    /// `inSavepoint` prepares its `SAVEPOINT` and `RELEASE` statements anew on every call (a tenth of the writer's
    /// time in the 1:1 profile when every append had one); these are prepared once per connection.
    static func inSavepoint<T>(_ db: Database, _ work: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT piece").execute()
        let value: T
        do {
            value = try work()
        } catch {
            // Undo this piece only; the transaction goes on with the others. Should SQLite have aborted the whole
            // transaction (a full disk), these fail too and so does the commit, which fails every piece of the turn.
            try? db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT piece").execute()
            try? db.cachedStatement(sql: "RELEASE SAVEPOINT piece").execute()
            throw error
        }
        try db.cachedStatement(sql: "RELEASE SAVEPOINT piece").execute()
        return value
    }
}
