import Hub
import IMProtocol
import Testing

/// The hub calls the bridge relies on: where a message landed, a per-entry expiry, and acknowledgements.
@Suite struct HubReceiptsTests {
    @Test func inboxSeqExpiryAndHighestAcknowledgement() async throws {
        let f = try await Fixture.open(rules: [])
        let users = try await f.register("alice", "bob_b")
        let alice = users[0], bob = users[1]
        var sent: [StoredMessage] = []
        for text in ["a", "b", "c"] {
            sent.append(try await f.hub.send(.init(targetID: "bob_b", body: .text(text)), from: alice, platform: "web"))
        }
        #expect(try await f.hub.inboxSeq(userID: bob.id, msgID: sent[1].msgID) == 2)
        #expect(try await f.hub.inboxSeq(userID: alice.id, msgID: sent[1].msgID) == nil)

        try await f.hub.setInboxExpiry(userID: bob.id, seq: 2, expiresAt: f.clock.now() + 10_000)
        f.clock.advance(seconds: 10)
        #expect(try await f.hub.inbox(userID: bob.id, after: 0).map(\.seq) == [1, 3])

        #expect(try await f.hub.highestAcknowledged(userID: bob.id) == 0)
        try await f.hub.acknowledge(userID: bob.id, device: "phone", seq: 1)
        try await f.hub.acknowledge(userID: bob.id, device: "tablet", seq: 3)
        try await f.hub.acknowledge(userID: bob.id, device: "phone", seq: 2)
        #expect(try await f.hub.highestAcknowledged(userID: bob.id) == 3)
    }
}
