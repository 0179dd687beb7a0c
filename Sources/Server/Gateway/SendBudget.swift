import Synchronization

/// The gateway-wide bound on sends being stored: every connection may have `sendsInFlight` of its own, and all
/// together at most `limit`, so many busy (or hostile) connections cannot queue unbounded frames and store calls.
/// A connection that finds the budget spent stops reading until a send of any connection finishes.
final class SendBudget: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    /// A budget of `limit` (at least 1) sends.
    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    /// Takes one send from the budget, waiting (first come, first served) while it is spent.
    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    /// Takes one send from the budget if it can without waiting (and no one waits before it).
    func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.waiters.isEmpty, s.available > 0 else { return false }
            s.available -= 1
            return true
        }
    }

    /// Gives one send back: to the first waiter, or to the budget.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.available += 1
            return nil
        }
        next?.resume()
    }

    /// Sends left in the budget (for tests and diagnostics).
    var available: Int { state.withLock { $0.available } }

    /// Sends waiting for the budget (for tests and diagnostics).
    var waiting: Int { state.withLock { $0.waiters.count } }
}
