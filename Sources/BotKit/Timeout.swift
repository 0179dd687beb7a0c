import Synchronization

/// A plugin did not answer an event in time.
public struct PluginTimeout: Error, Sendable, Hashable, CustomStringConvertible {
    /// How long it had.
    public var limit: Duration

    /// The limit in words.
    public var description: String { "no answer within \(limit)" }
}

/// The shared state of one ``withTimeout(_:_:)`` call: whoever finishes first takes the waiter.
private final class TimeoutRace<T: Sendable>: Sendable {
    let waiter = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let tasks = Mutex<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))

    func take() -> CheckedContinuation<T, any Error>? {
        waiter.withLock { w in
            defer { w = nil }
            return w
        }
    }
}

/// Runs `operation` and returns its result, or throws ``PluginTimeout`` after `limit` without waiting for it:
/// an operation that ignores cancellation is abandoned, not awaited, so a hanging plugin never blocks its caller.
func withTimeout<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T)
    async throws -> T {
    let race = TimeoutRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            race.waiter.withLock { $0 = c }
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                if let c = race.take() {
                    race.tasks.withLock { $0.timer }?.cancel()
                    c.resume(with: result)
                }
            }
            let timer = Task {
                do { try await Task.sleep(for: limit) } catch { return }
                if let c = race.take() {
                    race.tasks.withLock { $0.work }?.cancel()
                    c.resume(throwing: PluginTimeout(limit: limit))
                }
            }
            race.tasks.withLock { $0 = (work, timer) }
        }
    } onCancel: {
        let (work, timer) = race.tasks.withLock { $0 }
        work?.cancel()
        timer?.cancel()
        race.take()?.resume(throwing: CancellationError())
    }
}
