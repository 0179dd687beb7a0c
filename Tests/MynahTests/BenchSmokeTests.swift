import Foundation
import IMProtocol
import Testing
import MynahTesting

/// The `mynah-bench` load generator as a child process against a real daemon: its JSON output is complete and
/// consistent (every accepted message delivered and measured). Speed is not asserted; it lives in BENCHMARKS.md.
@Suite struct BenchSmokeTests {
    /// The `mynah-bench` binary built next to the test bundle.
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mynah-bench").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("mynah-bench")
    }

    /// Runs `mynah-bench` to completion without blocking a concurrency thread.
    static func bench(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        // Collect the output while the process runs so a full pipe never blocks it.
        let collected = Collected()
        out.fileHandleForReading.readabilityHandler = { h in collected.append(out: CrashRecoveryTests.DaemonProcess.read(h.fileDescriptor)) }
        err.fileHandleForReading.readabilityHandler = { h in collected.append(err: CrashRecoveryTests.DaemonProcess.read(h.fileDescriptor)) }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            process.terminationHandler = { _ in c.resume() }
            do {
                try process.run()
            } catch {
                collected.append(err: Data("cannot start \(executable.path): \(error)".utf8))
                c.resume()
            }
        }
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        collected.append(out: out.fileHandleForReading.readDataToEndOfFile())
        collected.append(err: err.fileHandleForReading.readDataToEndOfFile())
        let (o, e) = collected.value
        return (process.isRunning ? -1 : process.terminationStatus, o, e)
    }

    /// The figures of a JSON report.
    static func figures(_ stdout: String) throws -> [String: Double] {
        guard case .object(let report) = try JSONValue.parse(stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
              case .object(let figures) = report["figures"] else { return [:] }
        return figures.compactMapValues { v in
            switch v {
            case .int(let i): Double(i)
            case .double(let d): d
            default: nil
            }
        }
    }

    @Test func oneToOneReportsEveryAcceptedMessageAsDeliveredAndMeasured() async throws {
        try await Demo.withDaemon { _, port in
            let result = try await Self.bench(["one-to-one", "--url", "http://127.0.0.1:\(port)", "--users", "4",
                                               "--window", "2", "--duration", "0.3", "--drain", "60", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let f = try Self.figures(result.stdout)
            #expect(result.stdout.contains("\"scenario\":\"one-to-one\""))
            // Every user's first two sends are answered during the drain at the latest.
            #expect((f["accepted"] ?? 0) >= 8)
            #expect(f["delivered"] == f["accepted"])
            #expect(f["latency_samples"] == f["accepted"])
            #expect(f["errors"] == 0)
            #expect((f["latency_p99"] ?? -1) >= (f["latency_p50"] ?? 0))
            #expect(f["generator_cpu"] != nil)
        }
    }

    @Test func fanoutDeliversEachGroupMessageToEveryOtherMember() async throws {
        try await Demo.withDaemon { _, port in
            let result = try await Self.bench(["fanout", "--url", "http://127.0.0.1:\(port)", "--members", "5",
                                               "--window", "1", "--duration", "0.3", "--drain", "60", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let f = try Self.figures(result.stdout)
            #expect((f["accepted"] ?? 0) >= 1)
            #expect(f["delivered"] == (f["accepted"] ?? -1) * 4)
            #expect(f["errors"] == 0)
        }
    }

    @Test func botRoundTripsComeBackFromTheEchoRobot() async throws {
        try await Demo.withDaemon { _, port in
            let result = try await Self.bench(["bot", "--url", "http://127.0.0.1:\(port)", "--users", "2",
                                               "--window", "1", "--duration", "0.3", "--drain", "60", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let f = try Self.figures(result.stdout)
            #expect((f["accepted"] ?? 0) >= 2)
            #expect(f["round_trips"] == f["accepted"])
            #expect(f["errors"] == 0)
        }
    }

    @Test func aBadURLIsACleanError() async throws {
        let result = try await Self.bench(["one-to-one", "--url", "not a url"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--url: expected http://HOST:PORT"))
    }
}

/// Output gathered from a child's pipes on their reader threads.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data(), err = Data()

    func append(out data: Data) {
        lock.withLock { out.append(data) }
    }

    func append(err data: Data) {
        lock.withLock { err.append(data) }
    }

    var value: (String, String) {
        lock.withLock { (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self)) }
    }
}

/// `mynah run --password-cost`, the bench knob: out-of-range values are refused before anything starts.
@Suite struct PasswordCostOptionTests {
    @Test(arguments: ["3", "32"])
    func anOutOfRangeCostIsRefused(cost: String) async throws {
        let dir = try TemporaryDirectory()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("bots.yaml")
        try FileManager.default.copyItem(atPath: source.path, toPath: dir.path + "/bots.yaml")
        let result = try await CommandLineTests.run(["run", "--port", "0", "--data-dir", dir.path + "/data",
                                               "--password-cost", cost], in: dir.path)
        #expect(result.status == 2)
        #expect(result.stderr.contains("--password-cost: expected 4 to 31, got \(cost)"), "\(result.stderr)")
    }
}
