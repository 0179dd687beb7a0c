import Foundation
import IMProtocol
import Logging
import Synchronization

/// A child process spoken to in JSON lines: lines to its stdin, its stdout as a stream of lines, its stderr
/// into the log. Reads run on their own threads, writes on a serial queue, so no task ever blocks on a pipe.
///
/// `Process` is not `Sendable`; it is only configured before `run()` and then read (`processIdentifier`,
/// `isRunning`), which Foundation makes safe across threads.
final class ChildProcess: @unchecked Sendable {
    /// Longest stdout line kept; longer ones are cut and reported as garbage.
    static let maxLineBytes = 12 << 20    // room for an 8 MB attachment in base64

    private let process: Process
    private let stdin: FileHandle
    private let writes = DispatchQueue(label: "mynah.plugin.stdin")
    /// The process's stdout, one line at a time; ends when the process closes it.
    let lines: AsyncStream<String>
    private let exit = ExitState()

    /// The process id.
    var pid: Int32 { process.processIdentifier }

    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts `command` (looked up in `PATH` like a shell would) with `environment` added to the daemon's.
    init(command: [String], environment: [String: String], logger: Logger) throws {
        _ = Self.ignoreSIGPIPE
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        stdin = input.fileHandleForWriting
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        self.lines = lines
        process.terminationHandler = { [exit] process in
            let waiters = exit.state.withLock { e in
                e.status = process.terminationStatus
                defer { e.waiters = [] }
                return e.waiters
            }
            waiters.forEach { $0.resume(returning: process.terminationStatus) }
        }
        try process.run()
        let stdout = output.fileHandleForReading
        let stderr = errors.fileHandleForReading
        Thread.detachNewThread {
            Self.readLines(stdout) { continuation.yield($0) }
            continuation.finish()
        }
        Thread.detachNewThread {
            Self.readLines(stderr) { line in
                logger.notice("plugin stderr", metadata: ["line": "\(line)"])
            }
        }
    }

    /// Reads `handle` until end of file, calling `body` with each line (without its newline).
    private static func readLines(_ handle: FileHandle, _ body: (String) -> Void) {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                body(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                buffer.removeSubrange(buffer.startIndex...newline)
            }
            if buffer.count > maxLineBytes {
                body(String(decoding: buffer.prefix(200), as: UTF8.self) + "… (line longer than \(maxLineBytes) bytes)")
                buffer.removeAll()
            }
        }
        if !buffer.isEmpty { body(String(decoding: buffer, as: UTF8.self)) }
        try? handle.close()
    }

    /// Writes one JSON line to the process's stdin; a closed pipe is ignored (the exit is noticed elsewhere).
    func send(_ value: JSONValue) {
        var bytes = value.serialized()
        bytes.append(UInt8(ascii: "\n"))
        let data = Data(bytes)
        writes.async { [stdin] in try? stdin.write(contentsOf: data) }
    }

    /// Kills the process (SIGKILL); it cannot ignore it.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        writes.async { [stdin] in try? stdin.close() }
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { c in
            let status = exit.state.withLock { e -> Int32? in
                if e.status == nil { e.waiters.append(c) }
                return e.status
            }
            if let status { c.resume(returning: status) }
        }
    }
}

/// The exit status of a child process and who waits for it.
private final class ExitState: Sendable {
    let state = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
}
