import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with the part of Foundation's `Process` API the suites use.
///
/// Why not `Process`: on Linux, `Process.run()` lists `/proc/self/fd` to close every inherited descriptor, copying
/// each entry's whole 256-byte `d_name` out of glibc's directory buffer. With more than about 1,360 descriptors open
/// in the test process (swift-testing runs the suites in parallel, each with its SQLite pools and sockets; 4,205 at
/// the peak of one run), the copy of the last entry of a buffer read past its end and the whole run died with a
/// signal 11 (`memmove` in `Process.run`). Here `posix_spawn_file_actions_addclosefrom_np` closes them in the child.
final class ChildProcess: @unchecked Sendable {
    /// How the child ended, as `Process.TerminationReason`.
    enum TerminationReason: Sendable {
        case exit
        case uncaughtSignal
    }

    /// A failed spawn, with its `errno`.
    struct SpawnFailure: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "cannot start \(path): \(String(cString: strerror(code)))" }
    }

    /// The program to run.
    var executableURL: URL?
    /// Its arguments, without the program itself.
    var arguments: [String] = []
    /// Its whole environment; nil inherits the test process's.
    var environment: [String: String]?
    /// Its working directory; nil inherits the test process's.
    var currentDirectoryURL: URL?
    /// A `Pipe` (its write end is given to the child and closed here), a `FileHandle` (`FileHandle.nullDevice` is
    /// /dev/null), or nil to inherit.
    var standardOutput: Any?
    /// As ``standardOutput``.
    var standardError: Any?
    /// Called once, on a thread of its own, when the child has exited.
    var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private struct State {
        var pid: pid_t = 0
        var ended: (reason: TerminationReason, status: Int32)?
    }

    private let state = Mutex(State())
    private let exited = NSCondition()

    /// The child's process id (0 before ``run()``).
    var processIdentifier: Int32 { state.withLock { $0.pid } }
    /// Whether the child was started and has not been reaped yet.
    var isRunning: Bool { state.withLock { $0.pid != 0 && $0.ended == nil } }
    /// The exit code, or the signal that ended the child.
    var terminationStatus: Int32 { state.withLock { $0.ended?.status ?? -1 } }
    /// Whether the child exited or was ended by a signal.
    var terminationReason: TerminationReason { state.withLock { $0.ended?.reason ?? .exit } }

    /// Starts the child: standard input from /dev/null, every descriptor above 2 closed, default signal handling and
    /// an empty signal mask, its own process group (as `Process` does). A thread waits for its exit.
    func run() throws {
        guard let path = executableURL?.path else { throw SpawnFailure(path: "(no executable)", code: ENOENT) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Each step's error names it: a child started without its redirections or directory would fail later
        // and far from the cause.
        func check(_ code: Int32, _ step: String) throws {
            if code != 0 { throw SpawnFailure(path: "\(path) (\(step))", code: code) }
        }
        try check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "stdin")
        for (target, stream) in [(Int32(1), standardOutput), (Int32(2), standardError)] {
            switch Self.descriptor(stream) {
            case .some(let fd) where fd >= 0: try check(posix_spawn_file_actions_adddup2(&actions, fd, target), "dup2 \(target)")
            case .some: try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0), "open \(target)")
            case .none: break
            }
        }
        try check(Self.addCloseFrom(&actions, 3), "closefrom 3")
        if let directory = currentDirectoryURL?.path {
            try check(Self.addChdir(&actions, directory), "chdir \(directory)")
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            argv.forEach { free($0) }
            env?.forEach { free($0) }
        }
        var pid = pid_t()
        let code = env.map { env in posix_spawn(&pid, path, &actions, &attributes, argv, env) }
            ?? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard code == 0 else { throw SpawnFailure(path: path, code: code) }
        state.withLock { $0.pid = pid }
        // The child holds the write ends now; closing ours lets the reader see the end when the child exits.
        for stream in [standardOutput, standardError] {
            (stream as? Pipe)?.fileHandleForWriting.closeFile()
        }
        Thread.detachNewThread { [self, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Glibc does not import as functions.
            let signal = status & 0x7f
            let ended = signal == 0 ? (TerminationReason.exit, (status >> 8) & 0xff) : (.uncaughtSignal, signal)
            exited.lock()
            state.withLock { $0.ended = ended }
            exited.broadcast()
            exited.unlock()
            terminationHandler?(self)
        }
    }

    /// Sends SIGTERM.
    func terminate() { signal(SIGTERM) }

    /// Sends SIGINT.
    func interrupt() { signal(SIGINT) }

    /// Sends `number` to the child, if it was started.
    func signal(_ number: Int32) {
        let pid = processIdentifier
        if pid > 0 { kill(pid, number) }
    }

    /// Blocks the calling thread until the child has exited (returns at once if it was never started).
    func waitUntilExit() {
        exited.lock()
        defer { exited.unlock() }
        while processIdentifier != 0 && state.withLock({ $0.ended == nil }) { exited.wait() }
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `posix_spawn_file_actions_addchdir_np` (2.29),
    /// looked up at run time: Glibc's Swift module does not import GNU extensions.
    private static let addCloseFrom = unsafeBitCast(symbol("posix_spawn_file_actions_addclosefrom_np"), to: CloseFrom.self)
    private static let addChdir = unsafeBitCast(symbol("posix_spawn_file_actions_addchdir_np"), to: Chdir.self)

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("\(name) is missing: glibc 2.34 or later is needed to start children without Foundation's Process")
        }
        return address
    }

    /// The descriptor to give the child for `stream`: -1 for `FileHandle.nullDevice` (/dev/null), nil to inherit.
    private static func descriptor(_ stream: Any?) -> Int32? {
        switch stream {
        case let pipe as Pipe: pipe.fileHandleForWriting.fileDescriptor
        case let handle as FileHandle where handle === FileHandle.nullDevice: -1
        case let handle as FileHandle: handle.fileDescriptor
        default: nil
        }
    }
}
