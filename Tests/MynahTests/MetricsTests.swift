import BotKit
import Echo
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hub
import IMClient
import IMProtocol
import Prometheus
import Testing
import MynahTesting
@testable import Mynah

/// `GET /metrics` of a real daemon: the hub's, the bots' and the bridge's counters after real traffic, in the
/// Prometheus text format, and the endpoint's token and switch from `bots.yaml`.
@Suite struct MetricsTests {
    /// GET /metrics: the status and the samples as `name{labels}` to value.
    static func scrape(_ port: Int, token: String? = nil) async throws -> (status: Int, samples: [String: Double]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        var samples: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return (status, samples)
    }

    @Test func trafficShowsUpInTheHubsTheBotsAndTheBridgesCounters() async throws {
        try await Demo.withDaemon(configure: {
            BridgeDemo.configure(&$0)
            $0.bots = [Demo.bot(plugins: [Demo.plugin("echo")])]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            // Each of these is counted before the answer that the test waits for leaves the daemon.
            #expect(try await alice.ask("helper_bot", "one") == "one")
            #expect(try await alice.ask("helper_bot", "two") == "two")
            await #expect(throws: IMClient.Failure.self) {
                _ = try await alice.client.send(.init(targetID: "nobody_here", body: .text("lost")))
            }
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("parcel", aliases: ["uid_alice"]))

            let (status, samples) = try await Self.scrape(port)
            #expect(status == 200)
            #expect(samples[#"mynah_messages_accepted_total{target_type="single"}"#, default: 0] >= 2)
            #expect(samples[#"mynah_send_refused_total{code="899002"}"#] == 1)
            #expect(samples["mynah_inbox_entries_total", default: 0] >= 2)
            #expect(samples["mynah_send_duration_seconds_count", default: 0] >= 2)
            #expect(samples["mynah_gateway_sessions"] == 2)                    // alice and the bot
            #expect(samples[#"mynah_bot_events_total{bot="helper",plugin="echo",event="message"}"#] == 2)
            #expect(samples[#"mynah_bot_events_total{bot="helper",plugin="echo",event="started"}"#] == 1)
            #expect(samples[#"mynah_bot_plugin_failures_total{bot="helper",plugin="echo"}"#] == 0)
            #expect(samples[#"mynah_bot_plugin_duration_seconds_count{bot="helper",plugin="echo"}"#, default: 0] >= 2)
            #expect(samples[#"mynah_bot_connected{bot="helper"}"#] == 1)
            #expect(samples[#"mynah_bridge_pushes_total{rule="demo"}"#] == 1)
            #expect(samples["mynah_bridge_deliveries_total"] == 1)
        }
    }

    @Test func aFailingPluginIsCountedAgainstItsBotAndPlugin() async throws {
        let script = Demo.repository.appendingPathComponent("Tests/MynahTests/Fixtures/misbehaving.py").path
        try await Demo.withDaemon(configure: {
            $0.bots = [Demo.bot(plugins: [Demo.plugin("echo"), Demo.python(script, id: "misbehaving")])]
        }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "crash") == "crash")      // echo answers, the plugin dies
            _ = try await alice.client.send(.init(targetID: "helper_bot", body: .text("ping")))
            // The restarted plugin's pong comes after its failure on "crash" was counted.
            #expect(try await alice.next(2) == ["ping", "pong"])
            let samples = try await Self.scrape(port).samples
            #expect(samples[#"mynah_bot_plugin_failures_total{bot="helper",plugin="misbehaving"}"#] == 1)
            #expect(samples[#"mynah_bot_events_total{bot="helper",plugin="misbehaving",event="message"}"#] == 2)
        }
    }

    @Test func aBotRemovedFromTheConfigurationLeavesTheRegistry() throws {
        let dir = try TemporaryDirectory()
        let registry = PrometheusCollectorRegistry()
        let settings = BotKit.Bot.Settings(identity: BotIdentity(name: "gone", appKey: Demo.appKey, username: "gone_bot"))
        let bot = BotKit.Bot(settings: settings, plugins: [.init(SwiftBotPlugin(try Echo(configuration: [:])))],
                             storage: try SQLitePluginStorage(path: dir.path + "/bots.sqlite"),
                             metrics: PrometheusMetricsFactory(registry: registry))
        bot.connectionChanged(up: false)
        #expect(registry.emitToString().contains(#"mynah_bot_connected{bot="gone"} 0"#))
        #expect(registry.emitToString().contains(#"mynah_bot_events_total{bot="gone",plugin="echo",event="message"} 0"#))
        bot.forgetMetrics()
        #expect(!registry.emitToString().contains(#"bot="gone""#))
    }

    @Test func aTokenProtectsTheEndpointAndItCanBeSwitchedOff() async throws {
        try await Demo.withDaemon(configure: { $0.metrics.token = "scrape-me" }) { _, port in
            #expect(try await Self.scrape(port).status == 401)
            #expect(try await Self.scrape(port, token: "wrong").status == 401)
            let refused = try await REST(port: port).call("GET", "/metrics", authorization: "Bearer wrong")
            #expect(refused.json?["error"]?["code"] == 899008)
            let allowed = try await Self.scrape(port, token: "scrape-me")
            #expect(allowed.status == 200)
            #expect(allowed.samples["mynah_gateway_sessions"] != nil)
        }
        try await Demo.withDaemon(configure: { $0.metrics.enabled = false }) { _, port in
            let status = try await Self.scrape(port).status
            #expect(status == 404)
        }
    }

    @Test func theMetricsSectionIsReadAndCheckedWithItsLocation() throws {
        let good = try ConfigurationLoader.parse(yaml: """
            metrics:
              enabled: false
              token: ${TOKEN}
            """, fileName: "bots.yaml", environment: ["TOKEN": "t0ken"])
        #expect(good.metrics == .init(enabled: false, token: "t0ken"))
        #expect(try ConfigurationLoader.parse(yaml: "log_level: info\n", fileName: "bots.yaml").metrics == .init())
        #expect(throws: ConfigurationError.self) {
            _ = try ConfigurationLoader.parse(yaml: "metrics:\n  enabled: sometimes\n", fileName: "bots.yaml")
        }
        do {
            _ = try ConfigurationLoader.parse(yaml: "metrics:\n  token: \"\"\n  path: /m\n", fileName: "bots.yaml")
            Issue.record("an unknown key was accepted")
        } catch {
            #expect("\(error)".contains("bots.yaml:3:3"))
            #expect("\(error)".contains("metrics: unknown key 'path'"))
        }
    }
}
