import Foundation
import Server
import Testing

@testable import Mynah

/// `gateway:` of bots.yaml (ConfigurationReader+Gateway.swift): the gateway's timers.
@Suite struct GatewayConfigurationTests {
    @Test func absentKeepsTheGatewayDefaults() throws {
        let section = try parseConfiguration("data_dir: ./data\n").gateway
        #expect(section == GatewaySection())
        let applied = section.applied(to: Gateway.Configuration())
        #expect(applied.loginTimeout == .seconds(10) && applied.pingInterval == .seconds(30)
                && applied.writeTimeout == .seconds(15))
    }

    @Test func timersAreReadAndOverrideOnlyWhatTheySet() throws {
        let section = try parseConfiguration("""
            gateway:
              login_timeout: 1m
              ping_interval: 45
            """).gateway
        #expect(section == GatewaySection(loginTimeout: .seconds(60), pingInterval: .seconds(45)))
        let applied = section.applied(to: Gateway.Configuration(writeTimeout: .seconds(3)))
        #expect(applied.loginTimeout == .seconds(60) && applied.pingInterval == .seconds(45)
                && applied.writeTimeout == .seconds(3))
    }

    @Test func errorsNameTheLineColumnAndPath() {
        #expect(configurationFailure("gateway:\n  login_timeout: 11m\n")
                == "bots.yaml:2:18: gateway.login_timeout: expected a duration from 1s to 10m")
        #expect(configurationFailure("gateway:\n  ping_interval: 2h\n")
                == "bots.yaml:2:18: gateway.ping_interval: expected a duration from 1s to 1h")
        #expect(configurationFailure("gateway:\n  write_timeout: soon\n")?.hasPrefix(
            "bots.yaml:2:18: gateway.write_timeout: expected a positive duration") == true)
        #expect(configurationFailure("gateway:\n  pings: 3\n")?.hasPrefix("bots.yaml:2:3: gateway: unknown key 'pings'") == true)
        #expect(configurationFailure("gateway: 5\n")?.hasPrefix("bots.yaml:1:10: gateway: expected a mapping") == true)
    }

    @Test func theDaemonsGatewayUsesTheConfiguredLoginTimeout() async throws {
        try await Demo.withDaemon(configure: { $0.gateway = GatewaySection(loginTimeout: .seconds(1)) }) { _, port in
            // A connection that never logs in gets the fatal error naming the configured timeout.
            let peer = try HeartbeatTests.SilentPeer(port: port)
            defer { peer.close() }
            let (found, received) = await withCheckedContinuation { c in
                Thread.detachNewThread { c.resume(returning: peer.readUntil("no login frame within 1.0 seconds")) }
            }
            #expect(found, "no login timeout error: \(received)")
        }
    }
}
