import Foundation
import Hub
import IMClient
import IMProtocol
import Synchronization
import Testing
import MynahTesting
@testable import Mynah

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let millis: Atomic<Int64>

    init(_ start: Int64 = 1_800_000_000_000) {
        millis = Atomic(start)
    }

    var now: @Sendable () -> Int64 { { [self] in millis.load(ordering: .relaxed) } }

    func advance(by duration: Duration) {
        millis.add(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000,
                   ordering: .relaxed)
    }
}

/// Offline messages wait for the app's `offline_ttl` and no longer.
@Suite struct OfflineExpiryTests {
    @Test func anUndeliveredMessageExpiresAfterTheTTLAndLaterOnesStillArrive() async throws {
        let dir = try TemporaryDirectory()
        let clock = ManualClock()
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4, clock: clock.now)) {
            $0.apps[0].offlineTTL = .seconds(60)
        }
        try await daemon.withRunning { port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("old")))
            clock.advance(by: .seconds(30))
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("newer")))
            clock.advance(by: .seconds(31))   // "old" is 61 s old, "newer" 31 s.

            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            var inbox = bob.messages.makeAsyncIterator()
            let first = try #require(await inbox.next())
            #expect(first.seq == 2)
            #expect(first.stored.message.body.text == "newer")
            // The purge reclaims the expired entry; sequence numbers are never reused.
            #expect(try await daemon.hub.purgeExpired() == 1)
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("live")))
            let live = try #require(await inbox.next())
            #expect(live.seq == 3)
            #expect(live.stored.message.body.text == "live")
            bob.close()
            alice.close()
        }
    }

    @Test func theLastEntryOfAnInboxIsKeptSoSequenceNumbersNeverRepeat() async throws {
        let dir = try TemporaryDirectory()
        let clock = ManualClock()
        let daemon = try await Demo.daemon(dir, options: .init(passwordCost: 4, clock: clock.now)) {
            $0.apps[0].offlineTTL = .seconds(10)
        }
        try await daemon.withRunning { port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            for i in 1...3 { _ = try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))) }
            clock.advance(by: .seconds(11))
            #expect(try await daemon.hub.purgeExpired() == 2)
            _ = try await alice.send(.init(targetID: "bob_b", body: .text("fresh")))
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass")
            let d = try await bob.messages.first()
            #expect(d.seq == 4)
            #expect(d.stored.message.body.text == "fresh")
            bob.close()
            alice.close()
        }
    }

    @Test(arguments: [("604800", Duration.seconds(604800)), ("90m", .seconds(5400)), ("12h", .seconds(43200)),
                      ("7d", .seconds(604800)), ("45s", .seconds(45))])
    func offlineTTLIsReadFromTheConfiguration(text: String, expected: Duration) throws {
        let yaml = "apps:\n  - appkey: k1\n    master_secret: s\n    offline_ttl: \(text)\n"
        let config = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: [:])
        #expect(config.apps[0].offlineTTL == expected)
    }

    @Test(arguments: ["0", "-5", "7w", "abc", "d"])
    func aBadOfflineTTLIsLocated(text: String) throws {
        let yaml = "apps:\n  - appkey: k1\n    master_secret: s\n    offline_ttl: \(text)\n"
        let error = try #require(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: [:])
        }
        #expect(error.description.hasPrefix("bots.yaml:4:18: apps[0].offline_ttl: expected a positive duration"))
    }
}
