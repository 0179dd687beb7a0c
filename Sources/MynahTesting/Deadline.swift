/// Something a test awaited did not happen in time: no message, no bot online, no schedule armed.
public struct TestTimeout: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was awaited, e.g. "a message for alice".
    public var what: String
    /// How long it was awaited.
    public var limit: Duration

    /// Creates the error.
    public init(what: String, limit: Duration) {
        self.what = what
        self.limit = limit
    }

    /// The error in words.
    public var description: String { "no \(what) within \(limit)" }
}

/// Runs `operation` and returns its result, or throws ``TestTimeout`` after `limit`: a deadline on a wait, never a
/// pause. An operation still running at the deadline is cancelled and abandoned, so a wait that ignores
/// cancellation cannot hang the test.
func within<T: Sendable>(_ limit: Duration, _ what: String,
                         _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let (results, continuation) = AsyncThrowingStream<T, any Error>.makeStream()
    let work = Task {
        do {
            continuation.yield(try await operation())
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }
    let timer = Task {
        do { try await Task.sleep(for: limit) } catch { return }
        continuation.finish(throwing: TestTimeout(what: what, limit: limit))
    }
    defer {
        timer.cancel()
        work.cancel()
    }
    var iterator = results.makeAsyncIterator()
    guard let value = try await iterator.next() else { throw CancellationError() }
    return value
}
