@testable import IMProtocol
import Synchronization
import Testing

@Suite("OrderedLanes")
struct OrderedLanesTests {
    @Test("work of one key runs in submission order; keys run concurrently within the limit")
    func orderPerKeyAndLimit() async {
        let lanes = OrderedLanes<Int>(limit: 4)
        let log = Mutex<[Int: [Int]]>([:])
        let running = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        for i in 0..<120 {
            let key = i % 3
            await lanes.submit(key) {
                let now = running.add(1, ordering: .relaxed).newValue
                most.max(now, ordering: .relaxed)
                for _ in 0..<(i % 5) { await Task.yield() }
                log.withLock { $0[key, default: []].append(i) }
                running.subtract(1, ordering: .relaxed)
            }
        }
        await lanes.drain()
        let seen = log.withLock { $0 }
        for key in 0..<3 {
            #expect(seen[key] == Array(stride(from: key, to: 120, by: 3)))
        }
        #expect(most.load(ordering: .relaxed) <= 4)
    }

    @Test("drain waits for every piece of work submitted before it")
    func drainWaits() async {
        let lanes = OrderedLanes<String>(limit: 64)
        let done = Atomic<Int>(0)
        for i in 0..<50 {
            await lanes.submit("k\(i % 7)") {
                await Task.yield()
                done.add(1, ordering: .relaxed)
            }
        }
        await lanes.drain()
        #expect(done.load(ordering: .relaxed) == 50)
    }
}
