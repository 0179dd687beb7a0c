import Foundation
import IMClient
import IMProtocol
import Logging
import Testing
import MynahTesting
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The daemon as a child process, killed with SIGKILL in the middle of a burst of sends: every send it
/// acknowledged survives and is delivered exactly once after a restart.
@Suite struct CrashRecoveryTests {
    /// A `mynah run` child process on port 0 with its data in `dataDirectory`.
    final class DaemonProcess: @unchecked Sendable {
        let process = ChildProcess()
        let port: Int

        /// Starts the daemon and waits for its `listening` line on a thread of its own, not a concurrency thread.
        /// `environment` is added to the test's own.
        static func start(configPath: String, environment: [String: String] = [:]) async throws -> DaemonProcess {
            try await withCheckedThrowingContinuation { c in
                Thread.detachNewThread {
                    do {
                        c.resume(returning: try DaemonProcess(configPath: configPath, environment: environment))
                    } catch {
                        c.resume(throwing: error)
                    }
                }
            }
        }

        private init(configPath: String, environment: [String: String]) throws {
            process.executableURL = CommandLineTests.executable
            process.arguments = ["run", "--config", configPath, "--exit-with-parent"]
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            let stderr = Pipe()
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The daemon logs `address=127.0.0.1:PORT [Mynah] listening` once it accepts connections.
            let fd = stderr.fileHandleForReading.fileDescriptor
            var buffer = ""
            var found: Int?
            while found == nil {
                let chunk = Self.read(fd)
                guard !chunk.isEmpty else { break }
                buffer += String(decoding: chunk, as: UTF8.self)
                for line in buffer.split(separator: "\n") where line.contains("listening") {
                    if let range = line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                        found = Int(line[range].split(separator: ":").last!)
                    }
                }
            }
            guard let found else {
                process.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "daemon did not start: \(buffer)"])
            }
            port = found
            // Keep draining the log so the child never blocks on a full pipe.
            Thread.detachNewThread {
                while !Self.read(fd).isEmpty {}
                withExtendedLifetime(stderr) {}
            }
        }

        /// The next bytes of `fd` (empty at its end), with read(2) rather than FileHandle.availableData, which traps
        /// on EINTR (a child's SIGCHLD arriving while it reads).
        static func read(_ fd: Int32) -> Data {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                return n > 0 ? Data(buffer[..<n]) : Data()
            }
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            process.interrupt()
            process.waitUntilExit()
        }
    }

    /// Writes a `bots.yaml` for a child daemon: the demo app on port 0, data under `dir`, and `extra` sections.
    /// The login timeout is 5 minutes: these tests are about crashes and nodes, and with the whole suite starting
    /// at once on two cores a client's login frame once took over the 10 s default to be written.
    static func writeConfig(_ dir: TemporaryDirectory, extra: String = "") throws -> String {
        let path = dir.path + "/bots.yaml"
        try """
            listen: { host: 127.0.0.1, port: 0 }
            data_dir: \(dir.path)/data
            log_level: info
            gateway: { login_timeout: 5m }
            apps:
              - appkey: \(Demo.appKey)
                master_secret: \(Demo.secret)
            bots: []

            """.appending(extra).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `operation` for 0..<count concurrently and SIGKILLs `daemon` as soon as `killAfter` of them have
    /// succeeded (or when all are done); returns the ids the successful ones got, by index.
    static func burst(_ count: Int, killing daemon: DaemonProcess, after killAfter: Int,
                      _ operation: @escaping @Sendable (Int) async -> Int64?) async -> [Int: Int64] {
        await withTaskGroup(of: (Int, Int64?).self) { group in
            for i in 0..<count {
                group.addTask { (i, await operation(i)) }
            }
            var succeeded: [Int: Int64] = [:]
            var killed = false
            for await (i, id) in group {
                if let id { succeeded[i] = id }
                if !killed && succeeded.count >= killAfter {
                    daemon.kill9()
                    killed = true
                }
            }
            if !killed { daemon.kill9() }
            return succeeded
        }
    }

    @Test func everyAcknowledgedSendSurvivesSIGKILLAndArrivesExactlyOnce() async throws {
        let dir = try TemporaryDirectory()
        let config = try Self.writeConfig(dir)
        let first = try await DaemonProcess.start(configPath: config)
        let rest = REST(port: first.port)
        let registered = try await rest.call("POST", "/v1/users/", body: """
            [{"username":"alice","password":"alice-pass"},{"username":"bob_b","password":"bob-pass"}]
            """)
        #expect(registered.status == 201)

        let burst = 300
        let killAfter = 100
        let alice = try await Demo.client(port: first.port, username: "alice", password: "alice-pass")
        // Sends run concurrently in flight; the daemon is killed once `killAfter` of them were acknowledged.
        let acknowledged = await Self.burst(burst, killing: first, after: killAfter) { i in
            try? await alice.send(.init(requestID: "r\(i)", targetID: "bob_b", body: .text("m\(i)"))).msgID
        }
        alice.close()
        #expect(acknowledged.count >= killAfter)

        // Restart on the same data directory.
        let second = try await DaemonProcess.start(configPath: config)
        defer { second.stop() }
        // Alice resends everything with the same request ids: acknowledged ones must come back with the same
        // msg_id and store nothing new; the others are stored now.
        let again = try await Demo.client(port: second.port, username: "alice", password: "alice-pass")
        var finalIDs: [Int: Int64] = [:]
        for i in 0..<burst {
            let sent = try await again.send(.init(requestID: "r\(i)", targetID: "bob_b", body: .text("m\(i)")))
            finalIDs[i] = sent.msgID
            if let earlier = acknowledged[i] { #expect(sent.msgID == earlier, "request r\(i) got a new msg_id") }
        }
        let end = try await again.send(.init(targetID: "bob_b", body: .text("end")))
        again.close()

        // Bob reads his whole inbox up to the sentinel: every message exactly once, in seq order.
        let bob = try await Demo.client(port: second.port, username: "bob_b", password: "bob-pass")
        var seen: [Int64] = []
        var lastSeq: Int64 = 0
        for await delivery in bob.messages {
            #expect(delivery.seq == lastSeq + 1)
            lastSeq = delivery.seq
            if delivery.stored.msgID == end.msgID { break }
            seen.append(delivery.stored.msgID)
        }
        bob.close()
        #expect(seen.count == burst)
        #expect(Set(seen).count == seen.count, "a message was delivered twice")
        #expect(Set(seen) == Set(finalIDs.values))
        #expect(Set(acknowledged.values).isSubset(of: Set(seen)))
    }
}
