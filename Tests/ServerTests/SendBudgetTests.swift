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

    @Test("a send takes the budget without waiting only while some is left and no one waits before it")
    func tryAcquireTakesOnlyWhatIsFreeAndNotWaitedFor() async {
        let budget = SendBudget(limit: 1)
        #expect(budget.tryAcquire())
        #expect(!budget.tryAcquire())
        let waiter = Task { await budget.acquire() }
        while budget.waiting < 1 { await Task.yield() }
        // Given back, the send goes to the waiter: a later try does not jump the queue.
        budget.release()
        await waiter.value
        #expect(!budget.tryAcquire())
        budget.release()
        #expect(budget.tryAcquire())
        budget.release()
        #expect(budget.available == 1)
    }
}

/// The order in which waiters got the budget.
private final class Order: Sendable {
    let list = Mutex<[Int]>([])
}
