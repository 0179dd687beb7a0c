import BotKit
import Foundation
import IMProtocol
import Server
import Testing
import MynahTesting
@testable import Mynah

/// What the console's Bots screen shows of a running bot: connected since, events of the last minute, each plugin's
/// state (a quarantined external program among running ones), through a real daemon and real child processes.
@Suite struct BotStatusTests {
    @Test func aRunningBotReportsItsConnectionEventsAndEachPluginsState() async throws {
        let misbehaving = Demo.repository.appendingPathComponent("Tests/MynahTests/Fixtures/misbehaving.py").path
        let bot = Demo.bot(plugins: [Demo.plugin("echo"),
                                     Demo.python(misbehaving, id: "bad", config: ["crash_at_start": true], quarantineAfter: 2)])
        try await Demo.withDaemon(configure: { $0.bots = [bot] }) { daemon, port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("helper_bot", "one") == "one")
            let plugin = try #require(daemon.runningBot(named: "helper")?.slots[1].plugin as? ExternalPlugin)
            await plugin.waitForStatus { if case .quarantined = $0 { true } else { false } }
            let state = try #require(await daemon.consoleBots().first { $0.name == "helper" })
            #expect(state.connected)
            #expect(state.connectedSince != nil)
            // The event was counted before the echo plugin answered it.
            #expect(state.eventsPerMinute >= 1)
            #expect(state.plugins == ["echo", "bad"])
            #expect(state.pluginStates.map(\.id) == ["echo", "bad"])
            #expect(state.pluginStates.map(\.state) == ["running", "quarantined"])
            #expect(state.pluginStates[1].detail?.hasPrefix("2 failures in a row; last: exited with status 3") == true)
        }
    }
}
