import Synchronization

/// Runs work concurrently across keys but one at a time, in submission order, within a key, with at most `limit`
/// pieces of work submitted and unfinished at once: the ordering rule of sends (per conversation) shared by the
/// gateway's sessions and the bots. Not a wire type; it lives here because both sides import this module.
package final class OrderedLanes<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var tails: [Key: (id: UInt64, wait: @Sendable () async -> Void)] = [:]
        var nextID: UInt64 = 0
        var running = 0
        var slotWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// The most pieces of work submitted and not yet finished.
    package let limit: Int

    /// Creates lanes allowing `limit` (at least 1) unfinished pieces of work.
    package init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Waits for a free slot, then queues `work` after the earlier work of `key`; returns without waiting for it,
    /// with the task that runs it.
    @discardableResult
    package func submit<T: Sendable>(_ key: Key, _ work: @escaping @Sendable () async -> T) async -> Task<T, Never> {
        await acquire()
        return state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            let previous = s.tails[key]?.wait
            let task = Task {
                await previous?()
                let result = await work()
                self.finish(key, id)
                return result
            }
            s.tails[key] = (id, { _ = await task.value })
            return task
        }
    }

    /// Waits until everything submitted before the call has finished.
    package func drain() async {
        // The last piece of work of a key waits for the earlier ones.
        let tails = state.withLock { $0.tails.values.map(\.wait) }
        for wait in tails { await wait() }
    }

    private func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.running < limit {
                    s.running += 1
                    return true
                }
                s.slotWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func finish(_ key: Key, _ id: UInt64) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.tails[key]?.id == id { s.tails[key] = nil }
            // The slot passes straight to the first waiter.
            if !s.slotWaiters.isEmpty { return s.slotWaiters.removeFirst() }
            s.running -= 1
            return nil
        }
        next?.resume()
    }
}
