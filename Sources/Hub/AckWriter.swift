import Synchronization

/// A connection's acknowledgements: one writer stores the highest requested sequence number, then any newer one,
/// so a burst of acks costs one or two store writes instead of one each. ``stored(through:)`` waits for a given
/// request only, so steady acks never hold up a send's answer behind later ones.
///
/// Gateway sessions and embedded bots' in-process connections store their acks through it.
public final class AckWriter: Sendable {
    private struct State {
        var wanted: Int64 = 0
        var written: Int64 = 0
        /// The highest sequence number whose store finished (successfully or not).
        var completed: Int64 = 0
        var writing = false
        var waiters: [(target: Int64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Creates a writer with nothing requested.
    public init() {}

    /// The highest sequence number requested so far.
    public var requested: Int64 { state.withLock { $0.wanted } }

    /// Asks for `seq` to be stored with `store`; starts a writer unless one is running.
    public func request(_ seq: Int64, store: @escaping @Sendable (Int64) async -> Void) {
        state.withLock { s in
            s.wanted = max(s.wanted, seq)
            guard !s.writing else { return }
            s.writing = true
            Task {
                while let next = self.next() {
                    await store(next)
                    self.finished(next)
                }
            }
        }
    }

    /// Whether every acknowledgement up to `target` that was requested has been stored.
    public func isStored(through target: Int64) -> Bool {
        state.withLock { $0.completed >= target }
    }

    /// Returns once every acknowledgement up to `target` that was requested has been stored.
    public func stored(through target: Int64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if s.completed >= target { return true }
                s.waiters.append((target, c))
                return false
            }
            if done { c.resume() }
        }
    }

    private func next() -> Int64? {
        state.withLock { s in
            guard s.wanted > s.written else {
                s.writing = false
                return nil
            }
            s.written = s.wanted
            return s.wanted
        }
    }

    private func finished(_ seq: Int64) {
        let ready = state.withLock { s in
            s.completed = max(s.completed, seq)
            let ready = s.waiters.filter { $0.target <= s.completed }.map(\.continuation)
            s.waiters.removeAll { $0.target <= s.completed }
            return ready
        }
        ready.forEach { $0.resume() }
    }
}
