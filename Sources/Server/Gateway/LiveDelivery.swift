import Hub
import NIOCore
import NIOWebSocket
import Synchronization

/// A session's live inbox: the bus calls ``receive(_:)`` on the store's writer right after the commit, and while the
/// session's delivery task is caught up and the socket takes frames, the entry's frame goes straight to the channel
/// from there, with no task woken per delivery. Anything else (an entry out of order, a socket that does not take
/// more, entries arriving while the task works through the backlog or a gap) is queued for the delivery task, which
/// reads it through ``InboxReader`` as ``Feed`` and so keeps every guarantee of the reader: each entry once, in
/// order, gaps read from the store.
///
/// The two ways take turns under one lock: the task hands over (``Feed/next(readerAt:)``) only with its queue empty
/// and everything before written, and takes back the first entry the direct way cannot write, with the position the
/// direct way reached.
final class LiveDelivery: InboxReceiver {
    /// The delivery task waiting for an entry: given it with the position the direct way reached, or nil at the end.
    typealias Waiter = CheckedContinuation<(entry: InboxEntry, position: Int64)?, Never>

    private struct State {
        /// Whether the delivery task is waiting and entries in order go straight to the channel.
        var direct = false
        /// The highest sequence number written by the direct way (meaningful while `direct`, and handed to the task).
        var last: Int64 = 0
        /// Entries for the delivery task, oldest first; at most `bufferSize` (the oldest are dropped: the task reads
        /// the gap from the store).
        var queue: [InboxEntry] = []
        var queueStart = 0
        /// The delivery task waiting for an entry.
        var waiter: Waiter?
        var finished = false
    }

    private let state = Mutex(State())
    private let writer: FrameWriter
    private let delivered: DeliveredPosition
    private let bufferSize: Int

    /// A live inbox writing to `writer`, recording in `delivered` what it wrote; subscribe it to the bus before
    /// the backlog is read.
    init(writer: FrameWriter, delivered: DeliveredPosition, bufferSize: Int = 1024) {
        self.writer = writer
        self.delivered = delivered
        self.bufferSize = max(bufferSize, 1)
    }

    /// Whether the delivery task has handed live entries to the direct way (tests).
    var isDirect: Bool { state.withLock { $0.direct } }

    /// The frame of an inbox entry (spliced from the message serialized once, when the hub has it).
    static func frame(_ entry: InboxEntry) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: entry.frameJSON()))
    }

    /// A committed entry, on the publisher's thread.
    func receive(_ entry: InboxEntry) {
        let resume = state.withLock { s -> (Waiter, Int64)? in
            if s.finished { return nil }
            if s.direct {
                if entry.seq <= s.last { return nil }
                if entry.seq == s.last + 1, writer.canWrite {
                    // Written under the lock, so that entries published at once on two threads keep their order.
                    s.last = entry.seq
                    delivered.value.store(entry.seq, ordering: .releasing)
                    writer.write(Self.frame(entry))
                    return nil
                }
                // Out of order or the socket is full: the task takes over from here.
                s.direct = false
                if let waiter = s.waiter {
                    s.waiter = nil
                    return (waiter, s.last)
                }
            }
            if s.queue.count - s.queueStart >= bufferSize { s.queueStart += 1 }
            if s.queueStart >= bufferSize {
                s.queue.removeFirst(s.queueStart)
                s.queueStart = 0
            }
            s.queue.append(entry)
            return nil
        }
        if let (waiter, position) = resume { waiter.resume(returning: (entry, position)) }
    }

    /// Ends the live inbox: the waiting task gets nil, and nothing is written any more.
    func finish() {
        let waiter = state.withLock { s -> Waiter? in
            s.finished = true
            s.direct = false
            s.queue = []
            s.queueStart = 0
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The delivery task's side, an ``InboxLiveFeed`` for its ``InboxReader``.
    struct Feed: InboxLiveFeed {
        let live: LiveDelivery

        /// The next queued entry, or, with none queued, hands delivery to the direct way and waits for the first
        /// entry it cannot write (with the position it reached); nil once the session ends or the task is cancelled.
        mutating func next(readerAt position: Int64) async -> (entry: InboxEntry, position: Int64)? {
            let live = self.live
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (c: Waiter) in
                    let ready = live.state.withLock { s -> (entry: InboxEntry, position: Int64)?? in
                        if s.finished { return .some(nil) }
                        if s.queueStart < s.queue.count {
                            let entry = s.queue[s.queueStart]
                            s.queueStart += 1
                            if s.queueStart == s.queue.count {
                                s.queue.removeAll(keepingCapacity: true)
                                s.queueStart = 0
                            }
                            return .some((entry, position))
                        }
                        s.direct = true
                        s.last = position
                        s.waiter = c
                        return .none
                    }
                    if let ready { c.resume(returning: ready) }
                }
            } onCancel: {
                live.finish()
            }
        }
    }
}
