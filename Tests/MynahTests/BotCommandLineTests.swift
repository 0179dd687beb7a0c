import Foundation
import IMClient
import Synchronization
import Testing
import MynahTesting
@testable import Mynah

/// `mynah reload` against the real binary running as a child process.
@Suite struct BotCommandLineTests {
    /// The lines a child process writes to stderr, awaitable by content.
    final class StderrLines: Sendable {
        private let state = Mutex<(lines: [String], waiters: [(String, CheckedContinuation<String, Never>)])>(([], []))

        func append(_ line: String) {
            let ready = state.withLock { s in
                s.lines.append(line)
                let ready = s.waiters.filter { line.contains($0.0) }.map(\.1)
                s.waiters.removeAll { line.contains($0.0) }
                return ready
            }
            ready.forEach { $0.resume(returning: line) }
        }

        /// The first line containing `text`, once it has been written.
        func line(containing text: String) async -> String {
            await withCheckedContinuation { c in
                let found = state.withLock { s -> String? in
                    if let line = s.lines.first(where: { $0.contains(text) }) { return line }
                    s.waiters.append((text, c))
                    return nil
                }
                if let found { c.resume(returning: found) }
            }
        }
    }

    /// Runs the `mynah` binary to completion without blocking a thread: output goes to files (a pipe's end of file
    /// may never come while other tests' child processes hold inherited copies of it), the exit is awaited.
    static func run(_ arguments: [String], in directory: String) async throws
        -> (status: Int32, stdout: String, stderr: String) {
        try await CommandLineTests.run(arguments, in: directory)
    }

    @Test func mynahReloadSignalsTheRunningDaemon() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path + "/bots.yaml"
        try BotReloadTests.file(prefix: "one: ").write(toFile: config, atomically: true, encoding: .utf8)
        let process = ChildProcess()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["run", "--config", config, "--data-dir", dir.path + "/data", "--exit-with-parent"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let lines = StderrLines()
        let exited = AsyncStream<Int32> { continuation in
            process.terminationHandler = { continuation.yield($0.terminationStatus) }
        }
        try process.run()
        let reader = errors.fileHandleForReading
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = CrashRecoveryTests.DaemonProcess.read(reader.fileDescriptor)
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
        }
        defer { if process.isRunning { process.terminate() } }
        let listening = await lines.line(containing: "listening")
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        _ = await lines.line(containing: "bot online")

        // Register alice over REST and talk to the bot.
        let rest = REST(port: port)
        _ = try await rest.call("POST", "/v1/users/", body: #"[{"username":"alice","password":"alice-pass"}]"#)
        let alice = Inbox(try await Demo.client(port: port, username: "alice", password: "alice-pass"))
        #expect(try await alice.ask("echo_bot", "a") == "one: a")

        try BotReloadTests.file(prefix: "two: ").write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await Self.run(["reload", "--config", config, "--data-dir", dir.path + "/data"],
                                              in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("sent SIGHUP to mynah (pid \(process.processIdentifier))"))
        _ = await lines.line(containing: "configuration reloaded")
        #expect(try await alice.ask("echo_bot", "b") == "two: b")

        try "bots: [".write(toFile: config, atomically: true, encoding: .utf8)
        _ = try await Self.run(["reload", "--config", config, "--data-dir", dir.path + "/data"], in: dir.path)
        let failure = await lines.line(containing: "reload failed")
        #expect(failure.contains("bots.yaml:2:1"), "\(failure)")
        #expect(try await alice.ask("echo_bot", "c") == "two: c")
        alice.client.close()
        process.terminate()
        var statuses = exited.makeAsyncIterator()
        #expect(await statuses.next() == 0)   // SIGTERM: a graceful shutdown
    }

    @Test func reloadWithoutADaemonSaysWhy() async throws {
        let dir = try TemporaryDirectory()
        let result = try await Self.run(["reload", "--data-dir", dir.path], in: dir.path)
        #expect(result.status == 1)
        #expect(result.stderr.contains("mynah.pid': is mynah running with this data directory?"), "\(result.stderr)")
    }
}
