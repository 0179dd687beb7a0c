import Synchronization

/// The port the HTTP server bound, for whoever needs it before it is known: tests, the bots' gateway URL and their
/// media uploads wait on it until the server listens.
final class PortSignal: Sendable {
    private let state = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    /// The port, once the server listens.
    func wait() async -> Int {
        await withCheckedContinuation { c in
            let ready: Int? = state.withLock { p in
                if let v = p.value { return v }
                p.waiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// Records the bound port and wakes the waiters.
    func set(_ value: Int) {
        let waiters = state.withLock { p in
            p.value = value
            defer { p.waiters = [] }
            return p.waiters
        }
        for w in waiters { w.resume(returning: value) }
    }
}
