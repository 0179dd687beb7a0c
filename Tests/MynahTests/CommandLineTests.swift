import Foundation
import Testing
import MynahTesting

/// The `mynah` executable as a child process: `check` reports configuration errors with file, line and column.
@Suite struct CommandLineTests {
    /// The `mynah` binary built next to the test bundle.
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mynah").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("mynah")
    }

    /// Runs `mynah` with `arguments` in `directory` to completion without blocking a concurrency thread (a blocked
    /// thread of the two-thread pool stalls every other test's daemon): output goes to files, the exit is awaited.
    static func run(_ arguments: [String], in directory: String) async throws
        -> (status: Int32, stdout: String, stderr: String) {
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = directory + "/out-\(UUID().uuidString)", err = directory + "/err-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        let status = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { c.resume(throwing: error) }
        }
        return (status, try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }

    @Test func checkAcceptsTheDefaultConfiguration() async throws {
        let dir = try TemporaryDirectory()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("bots.yaml")
        try FileManager.default.copyItem(atPath: source.path, toPath: dir.path + "/bots.yaml")
        let result = try await Self.run(["check"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("bots.yaml: ok (1 apps, 1 bots)"))
    }

    @Test(arguments: [
        // (file content, expected error prefix)
        ("apps:\n  - appkey: k1\n    master_secret: [\n", "broken.yaml:4:1: "),
        ("listen:\n  prot: 80\n", "broken.yaml:2:3: listen: unknown key 'prot'; did you mean 'port'?"),
        ("listen:\n  port: abc\n", "broken.yaml:2:9: listen.port: expected an integer"),
        ("apps:\n  - master_secret: s\n", "broken.yaml:2:5: apps[0].appkey: missing required key"),
        ("""
        apps:
          - appkey: k1
            master_secret: s
        bots:
          - name: b
            appkey: k1
            username: robot_one
            password: secret
            plugins:
              - swift: no_such_plugin
        """, "broken.yaml:10:9: bots[0].plugins[0].swift: unknown plugin 'no_such_plugin'"),
    ])
    func checkReportsTheLineAndColumn(content: String, expected: String) async throws {
        let dir = try TemporaryDirectory()
        try content.write(toFile: dir.path + "/broken.yaml", atomically: true, encoding: .utf8)
        let result = try await Self.run(["check", "--config", "broken.yaml"], in: dir.path)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix(expected), "stderr was: \(result.stderr)")
    }
}
