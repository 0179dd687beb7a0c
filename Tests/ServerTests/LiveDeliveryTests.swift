import Hub
import IMProtocol
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import Server

/// ``LiveDelivery``: live entries go straight to the channel while the delivery task waits caught up, and to the task
/// (with the position reached) whenever they cannot.
@Suite struct LiveDeliveryTests {
    static func entry(_ seq: Int64) -> InboxEntry {
        InboxEntry(seq: seq, stored: StoredMessage(
            msgID: 100 + seq, msgCtime: 1_700_000_000_000 + seq,
            message: Message(targetType: .single, targetID: "bob", fromType: .user, fromID: "alice",
                             fromPlatform: "web", createTime: 1_700_000_000, body: .text("m\(seq)"))))
    }

    /// What the channel got, as the `seq` of each `msg` frame, after running its event loop. The testing channel is
    /// the thread-safe one: an async test resumes on any thread.
    static func written(_ channel: NIOAsyncTestingChannel) async throws -> [Int64] {
        await channel.testingEventLoop.run()
        var seqs: [Int64] = []
        while let frame = try await channel.readOutbound(as: WebSocketFrame.self) {
            let json = try JSONValue.parse(Array(frame.data.readableBytesView))
            seqs.append(try #require(json["seq"]?.intValue))
        }
        return seqs
    }

    /// Starts the task side waiting at `position` and returns once it has handed delivery to the direct way.
    static func waitDirect(_ live: LiveDelivery, at position: Int64)
        async -> Task<(entry: InboxEntry, position: Int64)?, Never> {
        let task = Task {
            var feed = LiveDelivery.Feed(live: live)
            return await feed.next(readerAt: position)
        }
        while !live.isDirect { await Task.yield() }
        return task
    }

    @Test func entriesInOrderAreWrittenByTheBusCallWhileTheTaskWaits() async throws {
        let channel = NIOAsyncTestingChannel()
        let delivered = DeliveredPosition(0)
        let live = LiveDelivery(writer: FrameWriter(channel: channel), delivered: delivered)
        // Before the task is caught up, entries wait for it, in order.
        live.receive(Self.entry(1))
        live.receive(Self.entry(2))
        var feed = LiveDelivery.Feed(live: live)
        #expect(await feed.next(readerAt: 0)?.entry.seq == 1)
        #expect(await feed.next(readerAt: 1)?.entry.seq == 2)
        #expect(try await Self.written(channel) == [])

        let waiting = await Self.waitDirect(live, at: 2)
        live.receive(Self.entry(3))
        live.receive(Self.entry(4))
        live.receive(Self.entry(4))   // a repeat is dropped
        #expect(try await Self.written(channel) == [3, 4])
        #expect(delivered.value.load(ordering: .acquiring) == 4)

        // A gap: the task takes over with the position the direct way reached, and reads 5 from the store.
        live.receive(Self.entry(6))
        let handed = await waiting.value
        #expect(handed?.entry.seq == 6 && handed?.position == 4)
        #expect(!live.isDirect)
        live.receive(Self.entry(7))   // queued for the task now
        #expect(try await Self.written(channel) == [])
        #expect(await feed.next(readerAt: 6)?.entry.seq == 7)
        live.finish()
    }

    @Test func aSocketThatTakesNoMoreHandsTheEntryToTheTask() async throws {
        let channel = NIOAsyncTestingChannel()
        let live = LiveDelivery(writer: FrameWriter(channel: channel), delivered: DeliveredPosition(0))
        let waiting = await Self.waitDirect(live, at: 0)
        live.receive(Self.entry(1))
        #expect(try await Self.written(channel) == [1])
        channel.isWritable = false
        live.receive(Self.entry(2))
        let handed = await waiting.value
        #expect(handed?.entry.seq == 2 && handed?.position == 1)
        #expect(try await Self.written(channel) == [])
        live.finish()
    }

    @Test func finishingOrCancellingEndsTheWait() async throws {
        let channel = NIOAsyncTestingChannel()
        let live = LiveDelivery(writer: FrameWriter(channel: channel), delivered: DeliveredPosition(0))
        let waiting = await Self.waitDirect(live, at: 0)
        live.finish()
        #expect(await waiting.value == nil)
        // After the end nothing is written.
        live.receive(Self.entry(1))
        #expect(try await Self.written(channel) == [])

        let other = LiveDelivery(writer: FrameWriter(channel: channel), delivered: DeliveredPosition(0))
        let cancelled = await Self.waitDirect(other, at: 0)
        cancelled.cancel()
        #expect(await cancelled.value == nil)
    }

    @Test func theTasksQueueKeepsTheNewestEntries() async throws {
        let channel = NIOAsyncTestingChannel()
        let live = LiveDelivery(writer: FrameWriter(channel: channel), delivered: DeliveredPosition(0), bufferSize: 3)
        for seq in 1...10 { live.receive(Self.entry(Int64(seq))) }
        var feed = LiveDelivery.Feed(live: live)
        var got: [Int64] = []
        for _ in 0..<3 { got.append(try #require(await feed.next(readerAt: 0)?.entry.seq)) }
        // The oldest were dropped; the reader reads the gap from the store.
        #expect(got == [8, 9, 10])
        live.finish()
    }

    @Test func aParkingReaderEndsAndTheFirstEntryTheDirectWayCannotDeliverStartsTheNext() async throws {
        let channel = NIOAsyncTestingChannel()
        let live = LiveDelivery(writer: FrameWriter(channel: channel), delivered: DeliveredPosition(0))
        let restarts = Mutex<[(seq: Int64, position: Int64)]>([])
        let record: @Sendable (InboxEntry, Int64) -> Void = { entry, position in
            restarts.withLock { $0.append((entry.seq, position)) }
        }
        let feed = LiveDelivery.ParkingFeed(live: live, restart: record)
        // Queued entries come first; with none queued the reader is handed nil (it parks) and delivery goes direct.
        live.receive(Self.entry(1))
        var reader = feed
        #expect(await reader.next(readerAt: 0)?.entry.seq == 1)
        #expect(await reader.next(readerAt: 1) == nil)
        #expect(live.isDirect)
        live.receive(Self.entry(2))
        #expect(try await Self.written(channel) == [2])
        #expect(restarts.withLock { $0.isEmpty })

        // The socket takes no more: the entry starts the next reader, with the position reached; later entries
        // queue for that reader.
        channel.isWritable = false
        live.receive(Self.entry(3))
        live.receive(Self.entry(4))
        #expect(restarts.withLock { $0.map(\.seq) } == [3])
        #expect(restarts.withLock { $0.map(\.position) } == [2])
        #expect(!live.isDirect)
        var next = feed
        #expect(await next.next(readerAt: 3)?.entry.seq == 4)
        // While the socket takes nothing, the reader waits instead of parking (parked, every entry would start a
        // reader): the next entry comes to it.
        let waiting = Task {
            var feed = LiveDelivery.ParkingFeed(live: live, restart: record)
            return await feed.next(readerAt: 4)
        }
        while !live.isDirect { await Task.yield() }
        live.receive(Self.entry(5))
        #expect(await waiting.value?.entry.seq == 5)
        #expect(restarts.withLock { $0.count } == 1)

        // Once it takes again, the reader parks; a gap starts the next one; after the end, nothing does.
        channel.isWritable = true
        #expect(await next.next(readerAt: 5) == nil)
        #expect(live.isDirect)
        live.receive(Self.entry(7))
        #expect(restarts.withLock { $0.map(\.seq) } == [3, 7])
        #expect(restarts.withLock { $0.last?.position } == 5)
        #expect(await next.next(readerAt: 7) == nil)
        live.finish()
        live.receive(Self.entry(8))
        #expect(restarts.withLock { $0.count } == 2)
        #expect(await next.next(readerAt: 7) == nil)
        #expect(try await Self.written(channel) == [])
    }
}

