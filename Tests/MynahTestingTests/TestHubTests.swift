import BotKit
import MynahTesting
import Testing

/// The kit's own promises: a wait that gets nothing fails saying what it waited for, and the clock moves only
/// when the test moves it.
@Suite struct TestHubTests {
    @Test func aWaitForAMessageThatNeverComesFailsNamingTheUser() async throws {
        try await TestHub.run(bots: [TestBot("echo", plugins: [.builtIn("echo")])]) { hub in
            let alice = try await hub.user("alice")
            await #expect(throws: TestTimeout(what: "message for alice", limit: .milliseconds(200))) {
                try await alice.next(within: .milliseconds(200))
            }
            #expect(try await alice.ask("still there", to: "echo_bot") == "still there")
        }
    }

    @Test func theBotsClockMovesOnlyWhenTheTestMovesIt() async throws {
        try await TestHub.run(bots: [TestBot("echo", plugins: [.builtIn("echo")])], now: 1_000_000) { hub in
            #expect(hub.now == 1_000_000)
            try await hub.advance(by: .seconds(90))
            #expect(hub.now == 1_090_000)
            try await hub.advance(to: 1_000_000)                 // never backwards
            #expect(hub.now == 1_090_000)
        }
    }
}
