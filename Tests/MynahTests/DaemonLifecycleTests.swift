import Foundation
import IMProtocol
import Testing
import MynahTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mynah run` as a child process, watched through its log: a taken port ends it at once saying so, and SIGINT or
/// SIGTERM end it while starting, running and stopping, a second signal at once.
@Suite struct DaemonLifecycleTests {
    /// A `mynah run` child whose log is collected on a thread of its own; the test waits for lines and its exit.
    final class Child: @unchecked Sendable {
        let process = ChildProcess()
        private let condition = NSCondition()
        private var log = ""
        private var logClosed = false
        private var status: (reason: ChildProcess.TerminationReason, code: Int32)?

        /// A safety net only: a child that hangs is killed so the test fails instead of hanging the suite.
        static let patience: TimeInterval = 120

        init(arguments: [String], in directory: String) throws {
            process.executableURL = CommandLineTests.executable
            // A child of a test run that crashes ends by itself (the daemon's parent watch).
            process.arguments = arguments.first == "run" ? arguments + ["--exit-with-parent"] : arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle.nullDevice
            let pipe = Pipe()
            process.standardError = pipe
            process.terminationHandler = { [condition] process in
                condition.lock()
                self.status = (process.terminationReason, process.terminationStatus)
                condition.broadcast()
                condition.unlock()
            }
            try process.run()
            let fd = pipe.fileHandleForReading.fileDescriptor
            Thread.detachNewThread { [self, pipe] in
                while true {
                    let chunk = CrashRecoveryTests.DaemonProcess.read(fd)
                    withExtendedLifetime(pipe) {}
                    condition.lock()
                    if chunk.isEmpty { logClosed = true } else { log += String(decoding: chunk, as: UTF8.self) }
                    condition.broadcast()
                    condition.unlock()
                    if chunk.isEmpty { return }
                }
            }
        }

        /// The log so far.
        var output: String {
            condition.lock()
            defer { condition.unlock() }
            return log
        }

        /// Waits until the log contains `text`; false when the child's log ends first.
        func waitForLog(_ text: String) async -> Bool {
            await onThread { [self] in
                let deadline = Date().addingTimeInterval(Self.patience)
                condition.lock()
                defer { condition.unlock() }
                while !log.contains(text) && !logClosed && Date() < deadline { _ = condition.wait(until: deadline) }
                return log.contains(text)
            }
        }

        /// The port of the `listening` line.
        func port() async throws -> Int {
            // Mynah's own line, `address=127.0.0.1:PORT [Mynah] listening`, not Hummingbird's.
            #expect(await waitForLog("] listening"))
            let line = try #require(output.split(separator: "\n").first { $0.contains("] listening") })
            let range = try #require(line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression))
            return try #require(Int(line[range].split(separator: ":").last!))
        }

        /// Sends `signal` to the child.
        func send(_ signal: Int32) {
            kill(process.processIdentifier, signal)
        }

        /// How the child ended: its exit status, or nil when it was killed by a signal (or by the safety net).
        func exitStatus() async -> Int32? {
            let ended = await onThread { [self] () -> (reason: ChildProcess.TerminationReason, code: Int32)? in
                let deadline = Date().addingTimeInterval(Self.patience)
                condition.lock()
                defer { condition.unlock() }
                while status == nil && Date() < deadline { _ = condition.wait(until: deadline) }
                return status
            }
            guard let ended else {
                Issue.record("mynah did not exit; killed. Log:\n\(output)")
                kill(process.processIdentifier, SIGKILL)
                return nil
            }
            return ended.reason == .exit ? ended.code : nil
        }

        private func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
            await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: body()) } }
        }
    }

    /// A logged-in gateway connection that never answers: the server's close handshake with it keeps the daemon
    /// stopping (the gateway waits for its answer, up to 15 s) until the connection gives up.
    static func silentClient(port: Int) async throws -> RawWebSocket {
        let rest = REST(port: port)
        let registered = try await rest.call("POST", "/v1/users/", body: #"[{"username":"quiet","password":"quiet-pass"}]"#)
        #expect(registered.status == 201)
        let socket = try await RawWebSocket.connect(port: port)
        try await socket.send(text: """
            {"op":"login","appkey":"\(Demo.appKey)","username":"quiet","password":"quiet-pass","device":"d"}
            """)
        let answer = try #require(try await socket.next())
        #expect(answer.text.contains("login_ok"), "\(answer.text)")
        return socket
    }

    @Test func aTakenPortEndsTheDaemonAtOnceSayingWhatToDo() async throws {
        let dir = try TemporaryDirectory()
        let config = try CrashRecoveryTests.writeConfig(dir)
        let (holder, port) = try RawSocket.listening()
        let child = try Child(arguments: ["run", "--config", config, "--port", "\(port)"], in: dir.path)
        let status = await child.exitStatus()
        #expect(status != nil && status != 0)
        #expect(child.output.contains("127.0.0.1:\(port) is already in use"), "\(child.output)")
        #expect(child.output.contains("--port"), "\(child.output)")
        withExtendedLifetime(holder) {}
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsARunningDaemonGracefully(signal: Int32) async throws {
        let dir = try TemporaryDirectory()
        let child = try Child(arguments: ["run", "--config", try CrashRecoveryTests.writeConfig(dir)], in: dir.path)
        _ = try await child.port()
        child.send(signal)
        #expect(await child.exitStatus() == 0, "\(child.output)")
    }

    @Test func aSecondSignalEndsAStoppingDaemonAtOnce() async throws {
        let dir = try TemporaryDirectory()
        let child = try Child(arguments: ["run", "--config", try CrashRecoveryTests.writeConfig(dir)], in: dir.path)
        let client = try await Self.silentClient(port: try await child.port())
        child.send(SIGTERM)
        #expect(await child.waitForLog("shutting down"))
        child.send(SIGTERM)
        #expect(await child.exitStatus() == 128 + SIGTERM, "\(child.output)")
        #expect(child.output.contains("second signal"))
        withExtendedLifetime(client) {}
    }

    @Test func aShutdownLongerThanTheTimeoutEndsTheChildProcess() async throws {
        let dir = try TemporaryDirectory()
        let child = try Child(arguments: ["run", "--config", try CrashRecoveryTests.writeConfig(dir),
                                          "--shutdown-timeout", "1"], in: dir.path)
        let client = try await Self.silentClient(port: try await child.port())
        child.send(SIGINT)
        #expect(await child.exitStatus() == 1, "\(child.output)")
        #expect(child.output.contains("shutdown did not finish within 1"), "\(child.output)")
        withExtendedLifetime(client) {}
    }

    /// A robot password hashed at bcrypt cost 31 keeps the daemon starting for hours: the state a signal must end.
    @Test func signalsEndADaemonThatIsStillStarting() async throws {
        let dir = try TemporaryDirectory()
        let path = try Self.writeSlowStartConfig(dir)
        let child = try Child(arguments: ["run", "--config", path, "--password-cost", "31"], in: dir.path)
        #expect(await child.waitForLog("starting"))
        child.send(SIGTERM)
        #expect(await child.waitForLog("shutting down"))
        child.send(SIGINT)
        // Either the first signal already stopped the start (status 0), or the second ended the hashing at once.
        let status = await child.exitStatus()
        #expect(status == 0 || status == 128 + SIGINT, "\(child.output)")
        #expect(!child.output.contains("listening"))
    }

    /// SIGHUP asks for a reload only while the daemon runs; at any other time (here: starting, then shutting down)
    /// it does nothing, where its default action would end the process without its shutdown. So the daemon still
    /// ends by its (1 s) shutdown timeout, status 1, not by SIGHUP.
    @Test func aSIGHUPWhileTheDaemonIsNotRunningDoesNotEndIt() async throws {
        let dir = try TemporaryDirectory()
        let path = try Self.writeSlowStartConfig(dir)
        let child = try Child(arguments: ["run", "--config", path, "--password-cost", "31", "--shutdown-timeout", "1"],
                              in: dir.path)
        #expect(await child.waitForLog("starting"))
        child.send(SIGHUP)
        child.send(SIGTERM)
        #expect(await child.waitForLog("shutting down"))
        child.send(SIGHUP)
        // Status 0 if the SIGTERM stopped the start before its hashing began; 1 from the timeout otherwise.
        let status = await child.exitStatus()
        #expect(status == 0 || status == 1, "\(child.output)")
    }

    /// A configuration whose bot's robot password, hashed at bcrypt cost 31, keeps the daemon starting for hours.
    static func writeSlowStartConfig(_ dir: TemporaryDirectory) throws -> String {
        let path = try CrashRecoveryTests.writeConfig(dir)
        try (try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "bots: []\n", with: """
            bots:
              - name: slow
                appkey: \(Demo.appKey)
                username: slow_bot
                password: slow-bot-secret
                plugins: [{ swift: echo }]

            """)).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A parent that starts `mynah run` with its stderr on a pipe, copies the log to `log` until it has `starting`,
    /// prints the child's pid and exits: the parent and the reader of the child's stderr gone at once, as when a
    /// test run crashes.
    static let crashingParent = """
        import subprocess, sys
        log = open(sys.argv[1], "wb")
        child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = b""
        while b"starting" not in seen:
            chunk = child.stderr.read1(4096)
            if not chunk:
                break
            seen += chunk
            log.write(chunk); log.flush()
        print(child.pid, flush=True)
        """

    /// Whether process `pid` has ended: gone, or a zombie nobody reaps (a container's init may not), with its wait
    /// status (from `/proc/PID/stat`) then.
    static func ended(_ pid: Int32) -> (ended: Bool, waitStatus: Int32?) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return (true, nil) }
        // `pid (comm) state ...`; the comm may hold spaces, so fields count from its closing parenthesis.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        guard fields.first == "Z" else { return (false, nil) }
        return (true, fields.last.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
    }

    /// Before `--exit-with-parent`, a child of a test run that crashed while it was starting (this configuration:
    /// hours of bcrypt) spun a core for hours. Now the parent's end acts as SIGTERM: the start is given up, and once
    /// the hashing has begun, which cannot be interrupted, the shutdown timeout ends the process (status 1).
    @Test func aDaemonWhoseParentDiesEndsByItself() async throws {
        let dir = try TemporaryDirectory()
        let path = try Self.writeSlowStartConfig(dir)
        let script = dir.path + "/parent.py", log = dir.path + "/daemon.log"
        try Self.crashingParent.write(toFile: script, atomically: true, encoding: .utf8)
        let parent = ChildProcess()
        parent.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        parent.arguments = ["python3", script, log, CommandLineTests.executable.path, "run", "--config", path,
                            "--password-cost", "31", "--exit-with-parent", "--shutdown-timeout", "1"]
        parent.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        let out = dir.path + "/parent.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        parent.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let status = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int32, any Error>) in
            parent.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try parent.run() } catch { c.resume(throwing: error) }
        }
        try #require(status == 0)
        let daemonLog = try String(contentsOfFile: log, encoding: .utf8)
        #expect(daemonLog.contains("starting"), "\(daemonLog)")
        let pid = try #require(Int32(try String(contentsOfFile: out, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        // Polled with a deadline that only a daemon which ignores its parent's end reaches.
        let deadline = ContinuousClock.now + .seconds(60)
        var end = Self.ended(pid)
        while !end.ended && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            end = Self.ended(pid)
        }
        if !end.ended { kill(pid, SIGKILL) }
        #expect(end.ended, "the orphaned daemon is still running")
        // Status 0 when the start was given up before the hashing began, 1 when the shutdown timeout ended it.
        if let waitStatus = end.waitStatus { #expect(waitStatus == 0 || waitStatus == 1 << 8, "wait status \(waitStatus)") }
    }
}
