import Synchronization

/// The port the HTTP server bound, for whoever needs it before it is known: tests, the bots' gateway URL and their
/// media uploads wait on it until the server listens, or learn that it never will.
final class PortSignal: Sendable {
    private enum State {
        case waiting([Int: CheckedContinuation<Int, any Error>])
        case bound(Int)
        case failed(any Error)
    }

    private let state = Mutex<(state: State, nextID: Int)>((.waiting([:]), 0))

    /// The port, once the server listens; throws the server's error when it could not start, and
    /// `CancellationError` when the waiting task is cancelled (a daemon stopped while starting).
    func wait() async throws -> Int {
        let id = state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
                let ready: Result<Int, any Error>? = state.withLock { s in
                    switch s.state {
                    case .bound(let port): return .success(port)
                    case .failed(let error): return .failure(error)
                    case .waiting(var waiters):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[id] = c
                        s.state = .waiting(waiters)
                        return nil
                    }
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Int, any Error>? in
                guard case .waiting(var waiters) = s.state, let c = waiters.removeValue(forKey: id) else { return nil }
                s.state = .waiting(waiters)
                return c
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Records the bound port and wakes the waiters.
    func set(_ value: Int) {
        finish(.success(value))
    }

    /// Records that the server will not listen (its bind failed) and wakes the waiters with `error`.
    func fail(_ error: any Error) {
        finish(.failure(error))
    }

    private func finish(_ result: Result<Int, any Error>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(let waiters) = s.state else { return [] }
            switch result {
            case .success(let port): s.state = .bound(port)
            case .failure(let error): s.state = .failed(error)
            }
            return Array(waiters.values)
        }
        for w in waiters { w.resume(with: result) }
    }
}
