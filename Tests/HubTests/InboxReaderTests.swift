import Hub
import IMProtocol
import Testing

/// The ordered inbox reader every delivery goes through (gateway sessions, in-process bot connections).
@Suite("InboxReader")
struct InboxReaderTests {
    @Test("the backlog, a gap the bus dropped and live entries come once each, in order")
    func backlogGapAndLiveInOrder() async throws {
        // A bus that keeps only the two newest signals per subscriber, so a burst leaves a gap.
        try await withHub(bus: InboxBus(bufferSize: 2)) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bob_b")
            _ = try await hub.sendText("before", from: alice, to: "bob_b")
            let live = hub.bus.subscribe(userID: bob.id)
            var reader = InboxReader(hub: hub, userID: bob.id, after: 0, live: live, batch: 2)
            _ = try await hub.sendText("m1", from: alice, to: "bob_b")
            // The backlog (two pages of at most 2) has "before" and "m1"; the bus also signalled m1.
            var texts: [String] = []
            var seqs: [Int64] = []
            for _ in 0..<2 {
                let entry = try #require(try await reader.next())
                texts.append(entry.message.message.body.text ?? "")
                seqs.append(entry.seq)
            }
            // A burst while the reader is not reading: the bus keeps the signals of m5 and m6 only.
            for i in 2...6 { _ = try await hub.sendText("m\(i)", from: alice, to: "bob_b") }
            for _ in 0..<5 {
                let entry = try #require(try await reader.next())
                texts.append(entry.message.message.body.text ?? "")
                seqs.append(entry.seq)
            }
            _ = try await hub.sendText("m7", from: alice, to: "bob_b")
            let last = try #require(try await reader.next())
            texts.append(last.message.message.body.text ?? "")
            seqs.append(last.seq)
            #expect(texts == ["before", "m1", "m2", "m3", "m4", "m5", "m6", "m7"])
            #expect(seqs == Array(1...8))
            #expect(reader.last == 8)
        }
    }

    @Test("a reader starts after its position and ends when its task is cancelled")
    func startsAfterThePositionAndEndsOnCancellation() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bob_b")
            for i in 1...4 { _ = try await hub.sendText("m\(i)", from: alice, to: "bob_b") }
            let live = hub.bus.subscribe(userID: bob.id)
            let (read, reading) = AsyncStream.makeStream(of: [Int64].self)
            let task = Task { () throws -> InboxEntry? in
                var reader = InboxReader(hub: hub, userID: bob.id, after: 2, live: live)
                var seqs: [Int64] = []
                for _ in 0..<3 { seqs.append(try #require(try await reader.next()).seq) }
                reading.yield(seqs)
                return try await reader.next()      // waits on the bus until cancelled
            }
            _ = try await hub.sendText("m5", from: alice, to: "bob_b")
            var iterator = read.makeAsyncIterator()
            #expect(await iterator.next() == [3, 4, 5])
            task.cancel()
            #expect(try await task.value == nil)
        }
    }

    /// What a scripted feed hands over next: an entry and the position its own writer reached before it.
    final class Script {
        var items: [(entry: InboxEntry, position: Int64)] = []
    }

    /// A feed that hands over what its script holds, then ends.
    struct ScriptedFeed: InboxLiveFeed {
        let script: Script

        mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)? {
            script.items.isEmpty ? nil : script.items.removeFirst()
        }
    }

    @Test("what the feed delivered by itself is not returned again, and a gap after it is read from the store")
    func positionsTheFeedReachedAreSkipped() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bob_b")
            for i in 1...2 { _ = try await hub.sendText("m\(i)", from: alice, to: "bob_b") }
            let script = Script()
            var reader = InboxReader(hub: hub, userID: bob.id, after: 0, feed: ScriptedFeed(script: script))
            #expect(try await reader.next()?.seq == 1)
            #expect(try await reader.next()?.seq == 2)
            for i in 3...6 { _ = try await hub.sendText("m\(i)", from: alice, to: "bob_b") }
            let stored = try await hub.inbox(userID: bob.id, after: 2, limit: 10)
            #expect(stored.map(\.seq) == [3, 4, 5, 6])
            // The feed wrote 3 itself and hands 4; then hands 6 having written nothing more, so 5 is a gap.
            script.items = [(stored[1], 3), (stored[3], 4)]
            var seqs: [Int64] = []
            while let entry = try await reader.next() { seqs.append(entry.seq) }
            #expect(seqs == [4, 5, 6])
            #expect(reader.last == 6)
        }
    }

    @Test("a reader resuming where another handed over reads the gap before its first entry, then that entry")
    func resumingReadsTheGapThenTheEntry() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bob_b")
            for i in 1...5 { _ = try await hub.sendText("m\(i)", from: alice, to: "bob_b") }
            let stored = try await hub.inbox(userID: bob.id, after: 0, limit: 10)
            // The last reader's feed wrote through 2 itself and could not write 5: 3 and 4 come from the store.
            let script = Script()
            var reader = InboxReader(hub: hub, userID: bob.id, resumingAt: 2, with: stored[4],
                                     feed: ScriptedFeed(script: script), batch: 1)
            var seqs: [Int64] = []
            while let entry = try await reader.next() { seqs.append(entry.seq) }
            #expect(seqs == [3, 4, 5])

            // With no gap, the entry comes first and the store is not read: 2 is in the store but not returned.
            var next = InboxReader(hub: hub, userID: bob.id, resumingAt: 1, with: stored[1],
                                   feed: ScriptedFeed(script: Script()))
            #expect(try await next.next()?.seq == 2)
            #expect(try await next.next() == nil)
            #expect(next.last == 2)
        }
    }
}

