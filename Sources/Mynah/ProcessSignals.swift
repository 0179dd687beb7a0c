import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's signals (SIGINT, SIGTERM, SIGHUP) to whoever subscribed, each signal that reaches the process once,
/// however busy or blocked its threads are. The daemon's one way of trapping signals: ``ShutdownSignals`` and the
/// reload on SIGHUP use it.
///
/// Not libdispatch's signal sources. On Linux they read a `signalfd` from the event thread, and a signal the kernel
/// hands to a thread that does not block it (the main thread waits in `sigsuspend` with nothing blocked once
/// `dispatch_main` runs) goes to a handler that re-raises it to the thread that registered the first source. A
/// fresh-clone CI run lost a second SIGINT on that path: it was never handled, and the daemon ended by its shutdown
/// timeout instead. Here a `sigaction` handler writes the signal's number to a pipe (`write(2)` is
/// async-signal-safe) on whichever thread the kernel picks, and a thread of its own, which blocks none of these
/// signals, so there is always one to take them, reads the pipe and calls the subscribers.
///
/// A signal's handler is installed while it has a subscriber; the previous disposition comes back when the last one
/// leaves (a test process that ran a daemon still stops on Ctrl-C).
final class ProcessSignals: Sendable {
    /// The process's one instance: a signal has one disposition per process.
    static let shared = ProcessSignals()

    /// What a subscriber is called with: the signal's number. Called on the signal thread; keep it short.
    typealias Handler = @Sendable (Int32) -> Void

    private struct State {
        var nextToken = 0
        var subscribers: [Int: (signal: Int32, handler: Handler)] = [:]
        /// Each signal whose handler is installed, with the disposition it replaced.
        var installed: [Int32: sigaction] = [:]
        var readerStarted = false
        /// Which of ``deliverable`` the signal thread blocks, as it read its own mask once started (tests).
        var readerBlocks: [Int32]?
    }

    private let state = Mutex(State())
    private let readEnd: Int32

    private init() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            preconditionFailure("cannot make the signal pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec, so that plugin processes inherit neither end. Not atomic with `pipe` (Glibc's `pipe2` is not
        // visible to Swift), but the daemon makes the pipe when it starts, before it spawns anything.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        // The handler must never block: a full pipe already holds signals the reader has yet to see.
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        readEnd = ends[0]
        signalPipeWriteEnd.store(ends[1], ordering: .releasing)
    }

    /// The signals it delivers: the reader thread unblocks these. SIGUSR2, which the daemon does not use, is for
    /// the tests of this type.
    static let deliverable: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR2]

    /// Calls `handler` with `signal` (one of ``deliverable``) each time the process receives it, until
    /// ``unsubscribe(_:)`` with the token returned. The first subscriber of a signal installs its handler.
    func subscribe(_ signal: Int32, _ handler: @escaping Handler) -> Int {
        precondition(Self.deliverable.contains(signal), "signal \(signal) is not one ProcessSignals delivers")
        return state.withLock { s in
            if !s.readerStarted {
                s.readerStarted = true
                startReader()
            }
            let token = s.nextToken
            s.nextToken += 1
            s.subscribers[token] = (signal, handler)
            if s.installed[signal] == nil {
                var action = sigaction()
                #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = signalPipeHandler
                #else
                action.__sigaction_u.__sa_handler = signalPipeHandler
                #endif
                action.sa_flags = SA_RESTART
                sigemptyset(&action.sa_mask)
                var previous = sigaction()
                sigaction(signal, &action, &previous)
                s.installed[signal] = previous
            }
            return token
        }
    }

    /// Stops calling the subscriber of `token` (a call already under way on the signal thread may still finish after
    /// this returns); the last subscriber of a signal puts back the disposition its handler replaced.
    func unsubscribe(_ token: Int) {
        state.withLock { s in
            guard let (signal, _) = s.subscribers.removeValue(forKey: token) else { return }
            guard !s.subscribers.values.contains(where: { $0.signal == signal }),
                  var previous = s.installed.removeValue(forKey: signal) else { return }
            sigaction(signal, &previous, nil)
        }
    }

    /// Which of ``deliverable`` the signal thread blocks (none), once it has started; for tests.
    var readerBlocks: [Int32]? { state.withLock { $0.readerBlocks } }

    /// `signal` as an async sequence of its arrivals, subscribed from now until the iteration ends (its task is
    /// cancelled, or the sequence is dropped); arrivals the consumer has not taken yet count as one.
    func arrivals(of signal: Int32) -> AsyncStream<Void> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let token = subscribe(signal) { _ in continuation.yield() }
            continuation.onTermination = { [self] _ in unsubscribe(token) }
        }
    }

    /// The thread that reads the pipe for the life of the process. It unblocks the signals, so the kernel always has
    /// a thread to run the handler on even when every other one (libdispatch's workers) blocks them all.
    private func startReader() {
        let readEnd = readEnd
        let thread = Thread { [self] in
            var unblocked = sigset_t()
            sigemptyset(&unblocked)
            for signal in Self.deliverable { sigaddset(&unblocked, signal) }
            pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
            var mask = sigset_t()
            pthread_sigmask(SIG_BLOCK, nil, &mask)
            let blocks = Self.deliverable.filter { sigismember(&mask, $0) == 1 }
            state.withLock { $0.readerBlocks = blocks }
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                // This process holds the write end for good, so neither an end of file nor an error can come; were
                // one to, the signals would go unheard, and only SIGKILL would stop the daemon: better to stop now.
                guard count > 0 else {
                    preconditionFailure("the signal pipe failed: \(count < 0 ? String(cString: strerror(errno)) : "closed")")
                }
                for byte in buffer[0..<count] { deliver(Int32(byte)) }
            }
        }
        thread.name = "mynah.signals"
        thread.start()
    }

    private func deliver(_ signal: Int32) {
        let handlers = state.withLock { s in s.subscribers.values.filter { $0.signal == signal }.map(\.handler) }
        for handler in handlers { handler(signal) }
    }
}

/// The signal pipe's write end, for the handler. Set before any handler is installed, so the handler's read of it
/// never initializes anything (a global's lazy initialization is not async-signal-safe).
private let signalPipeWriteEnd = Atomic<Int32>(-1)

/// The `sigaction` handler: the signal's number, one byte, into the pipe. Only async-signal-safe calls; `errno` is
/// kept for the code the signal interrupted.
private let signalPipeHandler: @convention(c) (Int32) -> Void = { signal in
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalPipeWriteEnd.load(ordering: .acquiring), &byte, 1)
    errno = saved
}
