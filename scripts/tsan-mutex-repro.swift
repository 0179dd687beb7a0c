// Why scripts/tsan.supp suppresses reports inside `Mutex.withLock` closures: with Swift 6.3.1 on Linux, TSan reports a
// race in this program, in which every access is under the lock: Synchronization's Mutex is a futex-based lock that
// TSan neither intercepts nor fully sees, so it misses the happens-before edge the lock makes under contention.
// To check a new toolchain:
//
//   swiftc -sanitize=thread -g scripts/tsan-mutex-repro.swift -o /tmp/repro && /tmp/repro
//
// No report means the suppressions for Mutex-guarded state in scripts/tsan.supp can go.
import Synchronization
import Foundation
final class Box: @unchecked Sendable {
    let m = Mutex(0)
    var plain = 0   // only touched under the lock
}
let box = Box()
let threads = (0..<4).map { _ in Thread {
    for _ in 0..<200_000 { box.m.withLock { v in v += 1; box.plain += 1 } }
} }
threads.forEach { $0.start() }
while box.m.withLock({ $0 }) < 800_000 { usleep(1000) }
print("done", box.plain)  // always 800000: the lock works, only TSan does not see it
