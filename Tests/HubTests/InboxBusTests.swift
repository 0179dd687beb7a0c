import Foundation
import Hub
import IMProtocol
import Testing

@Suite("InboxBus")
struct InboxBusTests {
    /// An entry whose message is identified by its seq, for bus tests that need no hub.
    static func entry(_ seq: Int64, to target: String = "bobby") -> InboxEntry {
        InboxEntry(seq: seq, stored: StoredMessage(
            msgID: 100 + seq, msgCtime: 1_700_000_000_000 + seq,
            message: Message(targetType: .single, targetID: target, fromType: .user, fromID: "alice",
                             fromPlatform: "web", createTime: 1_700_000_000, body: .text("m\(seq)"))))
    }

    @Test("a subscriber gets the entries published for its account, in order, and not others'")
    func deliversOnlyOwnEntries() async {
        let bus = InboxBus()
        var bob = bus.subscribe(userID: 1).makeAsyncIterator()
        var carol = bus.subscribe(userID: 2).makeAsyncIterator()
        #expect(bus.subscriberCount(userID: 1) == 1)
        #expect(bus.subscriberCount(userID: 2) == 1)
        #expect(bus.subscriberCount(userID: 3) == 0)

        bus.publish(userID: 1, entry: Self.entry(1))
        bus.publish(userID: 2, entry: Self.entry(1, to: "carol"))
        bus.publish(userID: 3, entry: Self.entry(9, to: "nobody listening"))
        bus.publish(userID: 1, entry: Self.entry(2))

        let b1 = await bob.next(), b2 = await bob.next()
        let c1 = await carol.next()
        #expect(b1 == Self.entry(1))
        #expect(b2 == Self.entry(2))
        #expect(c1 == Self.entry(1, to: "carol"))

        // carol's next signal is her next entry, not anything of bob's.
        bus.publish(userID: 2, entry: Self.entry(2, to: "carol"))
        let c2 = await carol.next()
        #expect(c2 == Self.entry(2, to: "carol"))
    }

    @Test("every session of an account gets every entry")
    func fansOutToAllSessions() async {
        let bus = InboxBus()
        var phone = bus.subscribe(userID: 1).makeAsyncIterator()
        var laptop = bus.subscribe(userID: 1).makeAsyncIterator()
        #expect(bus.subscriberCount(userID: 1) == 2)
        bus.publish(userID: 1, entry: Self.entry(1))
        let p = await phone.next(), l = await laptop.next()
        #expect(p == Self.entry(1))
        #expect(l == Self.entry(1))
    }

    @Test("publishing with no subscriber is a no-op")
    func publishWithoutSubscribers() {
        let bus = InboxBus()
        bus.publish(userID: 1, entry: Self.entry(1))
        #expect(bus.subscriberCount(userID: 1) == 0)
    }

    @Test("cancelling the iterating task unsubscribes: subscriberCount goes back to 0")
    func cancellationUnsubscribes() async {
        let bus = InboxBus()
        let stream = bus.subscribe(userID: 7)
        let other = bus.subscribe(userID: 7)
        #expect(bus.subscriberCount(userID: 7) == 2)

        let (received, receivedContinuation) = AsyncStream.makeStream(of: Int64.self)
        let reader = Task {
            for await entry in stream {
                receivedContinuation.yield(entry.seq)
            }
            receivedContinuation.finish()
        }
        bus.publish(userID: 7, entry: Self.entry(1))
        // Wait (without sleeping) until the reader is really iterating.
        var signals = received.makeAsyncIterator()
        let first = await signals.next()
        #expect(first == 1)

        reader.cancel()
        await reader.value
        #expect(bus.subscriberCount(userID: 7) == 1)
        // The remaining subscriber still works.
        var remaining = other.makeAsyncIterator()
        let r = await remaining.next()
        #expect(r == Self.entry(1))
    }

    @Test("subscribedUserIDs lists the accounts someone listens for, until their last session goes")
    func subscribedUserIDsFollowTheSubscriptions() async {
        let bus = InboxBus()
        let stream = bus.subscribe(userID: 3)
        let other = bus.subscribe(userID: 4)
        #expect(Set(bus.subscribedUserIDs) == [3, 4])
        let reader = Task { for await _ in stream {} }
        reader.cancel()
        await reader.value
        #expect(bus.subscribedUserIDs == [4])
        withExtendedLifetime(other) {}
    }

    @Test("dropping a stream that was never iterated unsubscribes too")
    func droppingUnsubscribes() {
        let bus = InboxBus()
        do {
            let stream = bus.subscribe(userID: 7)
            #expect(bus.subscriberCount(userID: 7) == 1)
            _ = stream
        }
        #expect(bus.subscriberCount(userID: 7) == 0)
        // Publishing afterwards reaches nobody and does not crash.
        bus.publish(userID: 7, entry: Self.entry(1))
    }

    @Test("a reader that stops iterating (break) unsubscribes")
    func breakingOutUnsubscribes() async {
        let bus = InboxBus()
        // Only the reader holds the stream.
        var stream: AsyncStream<InboxEntry>? = bus.subscribe(userID: 3)
        let reader = Task { [stream] in
            var seen: [Int64] = []
            for await entry in stream! {
                seen.append(entry.seq)
                if entry.seq == 2 { break }
            }
            return seen
        }
        stream = nil
        bus.publish(userID: 3, entry: Self.entry(1))
        bus.publish(userID: 3, entry: Self.entry(2))
        #expect(await reader.value == [1, 2])
        #expect(bus.subscriberCount(userID: 3) == 0)
    }

    @Test("""
        gap contract: a subscriber that falls behind keeps only the newest bufferSize signals; \
        the jump in seq tells it to read the missed entries from the store
        """)
    func slowSubscriberSeesNewestAndDetectsGap() async {
        let bus = InboxBus(bufferSize: 2)
        var slow = bus.subscribe(userID: 1).makeAsyncIterator()
        for seq: Int64 in 1...5 { bus.publish(userID: 1, entry: Self.entry(seq)) }
        let a = await slow.next(), b = await slow.next()
        // 1, 2 and 3 were dropped; what is left is the newest two, still in order.
        #expect(a?.seq == 4)
        #expect(b?.seq == 5)
        // The subscriber last saw seq 0, so seq 4 reveals the gap 1...3.
        let lastSeen: Int64 = 0
        #expect(a.map { $0.seq > lastSeen + 1 } == true)
        // Signals after the gap arrive normally.
        bus.publish(userID: 1, entry: Self.entry(6))
        let c = await slow.next()
        #expect(c?.seq == 6)
    }

    @Test("gap contract end to end: the missed entries are in the hub's inbox after the last seen seq")
    func gapIsFilledFromTheStore() async throws {
        try await withHub(bus: InboxBus(bufferSize: 2)) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var live = hub.bus.subscribe(userID: bob.id).makeAsyncIterator()
            var sent: [StoredMessage] = []
            for i in 1...5 { sent.append(try await hub.sendText("m\(i)", from: alice, to: "bobby")) }

            let lastSeen: Int64 = 0
            let signal = try #require(await live.next())
            #expect(signal == InboxEntry(seq: 4, stored: sent[3]))
            // The reader notices seq 4 != lastSeen + 1 and reads the gap from the store.
            let missed = try await hub.inbox(userID: bob.id, after: lastSeen, limit: Int(signal.seq - lastSeen - 1))
            #expect(missed.map(\.seq) == [1, 2, 3])
            #expect(missed.map(\.message) == Array(sent[0..<3]))
            let next = await live.next()
            #expect(next == InboxEntry(seq: 5, stored: sent[4]))
        }
    }
}
