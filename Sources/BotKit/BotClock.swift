import Foundation
import Synchronization

/// The wall clock bots schedule by: the time now and a way to wait for a later time.
///
/// Production uses ``SystemBotClock``; tests use ``ManualBotClock`` to fire ticks without waiting.
public protocol BotClock: Sendable {
    /// The current time, in milliseconds since 1970.
    func now() -> Int64
    /// Returns once the clock reads `deadline` or later; throws `CancellationError` when cancelled.
    func sleep(until deadline: Int64) async throws
}

/// The system's wall clock.
public struct SystemBotClock: BotClock {
    /// Creates the system clock.
    public init() {}

    /// Milliseconds since 1970 from `Date`.
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Sleeps in steps of at most a minute, re-reading the wall clock so a changed system time is noticed.
    public func sleep(until deadline: Int64) async throws {
        while true {
            let left = deadline - now()
            if left <= 0 { return }
            try await Task.sleep(for: .milliseconds(min(left, 60_000)))
        }
    }
}

/// A clock that moves only when told: `advance(to:)` wakes every sleeper whose deadline has come.
///
/// ```swift
/// let clock = ManualBotClock(now: start)
/// clock.advance(to: start + 60_000)   // a minute passes at once
/// ```
public final class ManualBotClock: BotClock {
    private struct Sleeper {
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Int64
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var waitersForSleepers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// A clock reading `now` (milliseconds since 1970).
    public init(now: Int64) {
        state = Mutex(State(now: now))
    }

    /// The time the clock reads.
    public func now() -> Int64 { state.withLock { $0.now } }

    /// Waits until `advance(to:)` reaches `deadline`.
    public func sleep(until deadline: Int64) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let (resumeNow, ready) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if s.now >= deadline || Task.isCancelled { return (true, []) }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: c)
                    return (false, Self.takeReady(&s))
                }
                ready.forEach { $0.resume() }
                if resumeNow {
                    if Task.isCancelled { c.resume(throwing: CancellationError()) } else { c.resume() }
                }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock to `time` (never backwards) and wakes the sleepers that are due.
    public func advance(to time: Int64) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = max(s.now, time)
            let ids = s.sleepers.filter { $0.value.deadline <= s.now }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0)?.continuation }
        }
        due.forEach { $0.resume() }
    }

    /// How many tasks sleep on this clock now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline a task sleeps until, or `nil` when none sleeps: where a test steps the clock to
    /// fire schedules one at a time instead of jumping past several.
    public var nextDeadline: Int64? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    /// Returns once at least `count` tasks are sleeping on this clock, so a test knows its schedules are armed.
    public func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.count >= count { return true }
                s.waitersForSleepers.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    private static func takeReady(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = s.sleepers.count
        let ready = s.waitersForSleepers.filter { $0.count <= count }.map(\.continuation)
        s.waitersForSleepers.removeAll { $0.count <= count }
        return ready
    }
}
