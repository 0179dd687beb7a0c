import Hub
import IMProtocol
@testable import Server
import Synchronization
import Testing

/// The gateway's coalescing acknowledgement writer and the lanes sends are ordered by.
@Suite("AckWriter and SendLane")
struct AckWriterTests {
    @Test("a send waits for the acks received before it, not for later ones still being written")
    func storedThroughWaitsForItsTargetOnly() async {
        let acks = AckWriter()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let written = Mutex<[Int64]>([])
        let store: @Sendable (Int64) async -> Void = { seq in
            if seq >= 5 { for await _ in gate { break } }      // the later ack's write hangs until opened
            written.withLock { $0.append(seq) }
        }
        acks.request(1, store: store)
        await acks.stored(through: 1)
        #expect(written.withLock { $0 } == [1])
        acks.request(5, store: store)
        let target = acks.requested
        #expect(target == 5)
        // An answer captured before the ack of 5 waits for 1 only: it returns while 5 is still being written.
        await acks.stored(through: 1)
        #expect(written.withLock { $0 } == [1])
        open.yield()
        await acks.stored(through: target)
        #expect(written.withLock { $0 } == [1, 5])
        await acks.stored(through: 0)
    }

    @Test("acks requested while one is written are coalesced into one more write")
    func burstsAreCoalesced() async {
        let acks = AckWriter()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let (started, didStart) = AsyncStream.makeStream(of: Void.self)
        let written = Mutex<[Int64]>([])
        let store: @Sendable (Int64) async -> Void = { seq in
            if seq == 1 {
                didStart.yield()
                for await _ in gate { break }
            }
            written.withLock { $0.append(seq) }
        }
        acks.request(1, store: store)
        for await _ in started { break }                       // the write of 1 is under way
        for seq in 2...50 { acks.request(Int64(seq), store: store) }
        open.yield()
        await acks.stored(through: 50)
        #expect(written.withLock { $0 } == [1, 50])
    }

    @Test("one conversation spelled two ways is one lane")
    func lanesFollowTheHubsSpelling() throws {
        let alice = User(id: 1, appKey: "app-a", username: "alice", kind: .user, profile: .init(), ctime: 0, mtime: 0)
        func lane(_ type: TargetType, _ id: String, _ appKey: String?) -> SendLane {
            SendLane(ClientFrame.Send(targetType: type, targetID: id, targetAppKey: appKey, body: .text("x")), sender: alice)
        }
        #expect(lane(.single, "bob", nil) == lane(.single, "bob", "app-a"))
        #expect(lane(.single, "bob", "") == lane(.single, "bob", "app-a"))
        #expect(lane(.single, "bob", "app-b") != lane(.single, "bob", "app-a"))
        #expect(lane(.group, "042", nil) == lane(.group, "42", "app-a"))
        #expect(lane(.group, "42", nil) != lane(.chatroom, "42", nil))
    }
}
