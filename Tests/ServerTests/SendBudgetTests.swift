@testable import Server
import Synchronization
import Testing

/// The gateway-wide bound on sends being stored.
@Suite("SendBudget")
struct SendBudgetTests {
    @Test("a spent budget makes the next send wait until one is given back, first come first served")
    func waitsWhileSpent() async {
        let budget = SendBudget(limit: 2)
        await budget.acquire()
        await budget.acquire()
        #expect(budget.available == 0)
        let order = Order()
        let first = Task {
            await budget.acquire()
            order.list.withLock { $0.append(1) }
        }
        // The first waiter is queued before the second one starts.
        while budget.waiting < 1 { await Task.yield() }
        let second = Task {
            await budget.acquire()
            order.list.withLock { $0.append(2) }
        }
        while budget.waiting < 2 { await Task.yield() }
        #expect(order.list.withLock { $0 }.isEmpty)
        budget.release()
        await first.value
        #expect(order.list.withLock { $0 } == [1])
        budget.release()
        await second.value
        #expect(order.list.withLock { $0 } == [1, 2])
        budget.release()
        budget.release()
        #expect(budget.available == 2)
    }
}

/// The order in which waiters got the budget.
private final class Order: Sendable {
    let list = Mutex<[Int]>([])
}
