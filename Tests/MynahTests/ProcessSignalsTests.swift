import Foundation
import Synchronization
import Testing
@testable import Mynah
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon's signal delivery (``ProcessSignals``), in the test process, with SIGUSR2, which nothing else here
/// traps: every signal sent reaches every subscriber once, and the disposition is put back after the last one.
/// Serialized: the suites share the process's one disposition of SIGUSR2.
@Suite(.serialized) struct ProcessSignalsTests {
    /// Counts deliveries and lets a test wait for a count (a hang guard of 10 s, not a timing).
    final class Counter: Sendable {
        private let count = Mutex(0)
        private let condition = NSCondition()

        func add() {
            condition.lock()
            count.withLock { $0 += 1 }
            condition.broadcast()
            condition.unlock()
        }

        var value: Int { count.withLock { $0 } }

        /// Waits until the count reaches `target`; false if it has not after 10 s.
        func wait(for target: Int) -> Bool {
            let deadline = Date().addingTimeInterval(10)
            condition.lock()
            defer { condition.unlock() }
            while value < target && Date() < deadline { _ = condition.wait(until: deadline) }
            return value >= target
        }
    }

    /// The handler of `signal` in force now: nil for SIG_DFL.
    static func disposition(_ signal: Int32) -> UnsafeRawPointer? {
        var current = sigaction()
        sigaction(signal, nil, &current)
        #if canImport(Glibc)
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: UnsafeRawPointer?.self)
        #else
        return unsafeBitCast(current.__sigaction_u.__sa_handler, to: UnsafeRawPointer?.self)
        #endif
    }

    /// Sent one at a time, each waited for before the next, 200 signals reach both subscribers 200 times: none is
    /// lost, none is seen twice. (libdispatch's signal sources, used before, lost one in a CI run: see
    /// ``ProcessSignals``.)
    @Test func everySignalReachesEverySubscriberOnce() async throws {
        #expect(Self.disposition(SIGUSR2) == nil)
        let first = Counter()
        let second = Counter()
        let tokens = [ProcessSignals.shared.subscribe(SIGUSR2) { _ in first.add() },
                      ProcessSignals.shared.subscribe(SIGUSR2) { _ in second.add() }]
        let sent = 200
        let delivered = await withCheckedContinuation { c in
            Thread.detachNewThread {
                for i in 1...sent {
                    kill(getpid(), SIGUSR2)
                    guard first.wait(for: i), second.wait(for: i) else { return c.resume(returning: i - 1) }
                }
                c.resume(returning: sent)
            }
        }
        #expect(delivered == sent)
        #expect(first.value == sent && second.value == sent)
        ProcessSignals.shared.unsubscribe(tokens[0])
        // The other subscriber still traps it.
        #expect(Self.disposition(SIGUSR2) != nil)
        kill(getpid(), SIGUSR2)
        #expect(await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: second.wait(for: sent + 1)) } })
        #expect(first.value == sent)
        ProcessSignals.shared.unsubscribe(tokens[1])
        #expect(Self.disposition(SIGUSR2) == nil, "the default disposition is back once nobody traps the signal")
    }

    /// The signal thread blocks none of the signals it delivers, so the kernel always has a thread to run the handler
    /// on (in the daemon libdispatch's workers block them all; here other threads may not, so a signal's arrival
    /// alone would not show it): its mask, as it read it, and a signal sent from a thread that blocks everything.
    @Test func aSignalReachesTheProcessWhenTheSendingThreadBlocksIt() async throws {
        let counter = Counter()
        let token = ProcessSignals.shared.subscribe(SIGUSR2) { _ in counter.add() }
        defer { ProcessSignals.shared.unsubscribe(token) }
        let arrived = await withCheckedContinuation { c in
            Thread.detachNewThread {
                var all = sigset_t()
                sigfillset(&all)
                pthread_sigmask(SIG_BLOCK, &all, nil)
                kill(getpid(), SIGUSR2)
                c.resume(returning: counter.wait(for: 1))
            }
        }
        #expect(arrived)
        // The signal thread has run (it delivered), so it has read its own mask.
        #expect(ProcessSignals.shared.readerBlocks == [])
    }

    /// The reload's sequence of SIGHUP's arrivals (here SIGUSR2's) traps the signal while it is iterated and lets
    /// go when the iterating task is cancelled, as at shutdown.
    @Test func anArrivalsSequenceTrapsTheSignalWhileIterated() async throws {
        let counter = Counter()
        let arrivals = ProcessSignals.shared.arrivals(of: SIGUSR2)
        #expect(Self.disposition(SIGUSR2) != nil)
        let reader = Task {
            for await _ in arrivals { counter.add() }
        }
        kill(getpid(), SIGUSR2)
        #expect(await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: counter.wait(for: 1)) } })
        reader.cancel()
        await reader.value
        #expect(Self.disposition(SIGUSR2) == nil)
    }
}
