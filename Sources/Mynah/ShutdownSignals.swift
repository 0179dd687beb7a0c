import Dispatch
import Foundation
import IMProtocol
import Logging
import Synchronization

/// SIGINT and SIGTERM over the daemon's whole life, starting, running and stopping alike: the first asks for a
/// graceful shutdown, which must end within `timeout` or the process exits with status 1; a second signal exits at
/// once with 128 + its number.
///
/// The signals come through ``ProcessSignals`` and are handled on a dispatch queue of their own, and what the first
/// one asks for runs on another, so a daemon whose tasks are stuck still ends, and a second signal never waits behind
/// the first one's action. What the first signal does changes as the daemon moves on (``whenSignalled(_:)``): cancel
/// the start, then stop the services.
final class ShutdownSignals: Sendable {
    private struct State {
        var signals = 0
        var action: (@Sendable () -> Void)?
        var lastWords: [@Sendable () -> Void] = []
        var finished = false
    }

    private let timeout: Duration
    private let logger: Logger
    private let state = Mutex(State())
    /// The ``ProcessSignals`` subscriptions, set once in `init`, ended in `finish()`.
    private nonisolated(unsafe) var subscriptions: [Int] = []
    /// The parent watch, set once in `init`, cancelled in `finish()` or when the parent is gone.
    private nonisolated(unsafe) var parentWatch: (any DispatchSourceTimer)?
    /// How often the parent watch checks the parent.
    static let parentCheckInterval: DispatchTimeInterval = .milliseconds(200)
    private static let queue = DispatchQueue(label: "mynah.shutdown-signals")
    /// Where the first signal's action runs, apart from `queue`.
    private static let actions = DispatchQueue(label: "mynah.shutdown-actions")

    /// Traps SIGINT and SIGTERM from now on. With `parent`, the end of that process (it is no longer this one's
    /// parent) acts as a SIGTERM, so that a daemon run as a child does not outlive a parent that crashed; checked
    /// every ``parentCheckInterval`` on the signals' queue, since Linux's `PR_SET_PDEATHSIG` fires when the thread
    /// that spawned the child ends, not its process.
    init(timeout: Duration, logger: Logger, parent: Int32? = nil) {
        self.timeout = timeout
        self.logger = logger
        weak let signals = self
        subscriptions = [SIGINT, SIGTERM].map { number in
            ProcessSignals.shared.subscribe(number) { number in Self.queue.async { signals?.received(number) } }
        }
        // SIGHUP is held for the daemon's whole life too, doing nothing here: the reload subscribes to it only while
        // its service runs, and between (the start, the shutdown) its default action would end the process.
        subscriptions.append(ProcessSignals.shared.subscribe(SIGHUP) { _ in })
        if let parent {
            let timer = DispatchSource.makeTimerSource(queue: Self.queue)
            timer.schedule(deadline: .now(), repeating: Self.parentCheckInterval)
            // Holds `self` until cancelled (the parent's end, or `finish()`).
            timer.setEventHandler { [self] in
                guard getppid() != parent else { return }
                parentWatch?.cancel()
                received(SIGTERM, cause: "the parent process \(parent) exited")
            }
            parentWatch = timer
            timer.resume()
        }
    }

    /// Makes `action` what the first signal does; runs it at once (and returns false) when a signal already came.
    @discardableResult
    func whenSignalled(_ action: @escaping @Sendable () -> Void) -> Bool {
        let pending = state.withLock { s -> Bool in
            s.action = action
            return s.signals > 0
        }
        if pending { action() }
        return !pending
    }

    /// Whether a signal asked the daemon to stop.
    var isRequested: Bool {
        state.withLock { $0.signals > 0 }
    }

    /// Runs `body` before a forced exit (a second signal, the timeout), for what the process must not leave behind.
    func beforeForcedExit(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.lastWords.append(body) }
    }

    /// Lets go of the signals if ``finish()`` was not called.
    deinit {
        for token in subscriptions { ProcessSignals.shared.unsubscribe(token) }
    }

    /// The daemon has ended: the timeout no longer applies and the signals are no longer trapped.
    func finish() {
        state.withLock { $0.finished = true }
        for token in subscriptions { ProcessSignals.shared.unsubscribe(token) }
        parentWatch?.cancel()
    }

    /// A signal, or what acts as `number` (`cause` says what).
    private func received(_ number: Int32, cause: String? = nil) {
        let name = cause ?? (number == SIGINT ? "SIGINT" : "SIGTERM")
        let (count, action, finished) = state.withLock { s -> (Int, (@Sendable () -> Void)?, Bool) in
            s.signals += 1
            return (s.signals, s.action, s.finished)
        }
        guard !finished else { return }
        if count > 1 {
            logger.warning("second signal: exiting now", metadata: ["signal": "\(name)"])
            exitNow(128 + number)
        }
        let seconds = timeout.components.seconds
        logger.notice("shutting down; a second signal exits at once",
                      metadata: ["signal": "\(name)", "timeout": "\(seconds) s"])
        Self.queue.asyncAfter(deadline: .now() + .nanoseconds(Int(timeout.wholeNanoseconds))) { [self] in
            // A daemon that ended in time has finished: the deadline no longer applies.
            guard !state.withLock({ $0.finished }) else { return }
            logger.error("shutdown did not finish within \(seconds) s; exiting")
            exitNow(1)
        }
        if let action { Self.actions.async(execute: action) }
    }

    private func exitNow(_ status: Int32) -> Never {
        for body in state.withLock({ $0.lastWords }) { body() }
        // Standard error, where the log goes, is unbuffered. No atexit handlers or static destructors: other threads are still running.
        _exit(status)
    }
}
