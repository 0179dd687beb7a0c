@testable import Server
import Synchronization
import Testing

@Suite("WriteWatchdog")
struct WriteWatchdogTests {
    @Test("one shared task reports each stalled write once and leaves sessions without a pending write alone")
    func reportsStalledWrites() async {
        let watchdog = WriteWatchdog(timeout: .milliseconds(40))
        let idle = WriteWatch()
        let idleStalls = Atomic<Int>(0)
        _ = watchdog.watch(idle) { idleStalls.add(1, ordering: .relaxed) }
        let stuck = WriteWatch()
        let stuckStalls = Atomic<Int>(0)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            stuck.begin()
            _ = watchdog.watch(stuck) {
                stuckStalls.add(1, ordering: .relaxed)
                done.resume()
            }
        }
        #expect(stuckStalls.load(ordering: .relaxed) == 1)
        #expect(idleStalls.load(ordering: .relaxed) == 0)
    }
}
