import Foundation
import Testing
import MynahTesting
@testable import Mynah

/// A configuration file with several problems gets all of them reported, each as `bots.yaml:LINE:COLUMN: path:
/// message`, and a short master secret is refused where other machines can reach the daemon.
@Suite struct ConfigurationDiagnosticsTests {
    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: [:]) {
                config throws(ConfigurationError) in try Daemon.check(config)
            }
            return []
        } catch {
            return error.all.map(\.description)
        }
    }

    static let severalProblems = """
        listen:
          port: abc
        log_level: loud
        apps:
          - appkey: k1
            master_secret: a-secret-of-enough-length
            offline_ttl: soon
          - master_secret: another-long-enough-secret
        bots:
          - name: b
            appkey: k1
            username: robot_one
            password: secret
            plugins:
              - swift: no_such_plugin
        metrics:
          enabeld: true

        """

    @Test func everyProblemIsReportedInFileOrder() {
        #expect(Self.problems(Self.severalProblems) == [
            "bots.yaml:2:9: listen.port: expected an integer, got 'abc'",
            "bots.yaml:3:12: log_level: expected one of trace, debug, info, notice, warning, error, critical, got 'loud'",
            "bots.yaml:7:18: apps[0].offline_ttl: expected a positive duration such as 604800, 90m, 12h or 7d, got 'soon'",
            "bots.yaml:8:5: apps[1].appkey: missing required key",
            "bots.yaml:15:9: bots[0].plugins[0].swift: unknown plugin 'no_such_plugin'; built-in plugins: commands, echo, relay, reminder",
            "bots.yaml:17:3: metrics: unknown key 'enabeld'; did you mean 'enabled'?",
        ])
    }

    @Test func aShortMasterSecretIsRefusedBeyondLoopback() {
        let problems = Self.problems("listen: {host: 0.0.0.0}\napps:\n  - {appkey: k1, master_secret: short-secret}\n")
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("bots.yaml:3:33: apps[0].master_secret: expected at least 16 characters, got 12")
                    == true, "\(problems)")
    }

    @Test func aShortMasterSecretOnLoopbackIsAllowedWithAWarning() throws {
        let config = try ConfigurationLoader.parse(yaml: "apps:\n  - {appkey: k1, master_secret: short-secret}\n",
                                                   fileName: "bots.yaml", environment: [:])
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.hasPrefix("apps[0].master_secret: shorter than 16 characters") == true)
        let long = try ConfigurationLoader.parse(yaml: "listen: {host: 0.0.0.0}\napps:\n  - {appkey: k1, master_secret: a-secret-of-enough-length}\nmetrics: {token: t}\n",
                                                 fileName: "bots.yaml", environment: [:])
        #expect(long.warnings.isEmpty)
    }

    @Test func checkPrintsEveryProblemOnItsOwnLine() async throws {
        let dir = try TemporaryDirectory()
        try Self.severalProblems.write(toFile: dir.path + "/broken.yaml", atomically: true, encoding: .utf8)
        let result = try await CommandLineTests.run(["check", "--config", "broken.yaml"], in: dir.path)
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 6, "\(result.stderr)")
        #expect(lines.allSatisfy { $0.hasPrefix("broken.yaml:") })
        #expect(lines.last == "broken.yaml:17:3: metrics: unknown key 'enabeld'; did you mean 'enabled'?")
    }

    @Test func checkWarnsAboutAShortSecretOnLoopback() async throws {
        let dir = try TemporaryDirectory()
        try "apps:\n  - {appkey: k1, master_secret: short-secret}\n"
            .write(toFile: dir.path + "/bots.yaml", atomically: true, encoding: .utf8)
        let result = try await CommandLineTests.run(["check"], in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("bots.yaml: warning: apps[0].master_secret: shorter than 16 characters"))
    }
}
