import Hub
import NIOCore
import NIOWebSocket
import Synchronization

/// A session's live inbox: a ``DirectInbox`` whose sink is the connection. While the session's delivery is caught up
/// and the socket takes frames, the bus's call writes each entry's frame to the channel itself, with no task at all
/// (``Delivery``); a delivery task is started for gaps and a full socket.
typealias LiveDelivery = DirectInbox<SocketSink>

/// The connection as a ``DirectInboxSink``: frames go to the channel through `writer` (one event-loop turn and one
/// flush for what is waiting), and `delivered` records the highest seq written.
struct SocketSink: DirectInboxSink {
    let writer: FrameWriter
    let delivered: DeliveredPosition

    /// Whether the socket takes more frames now.
    var canTake: Bool { writer.canWrite }

    /// Writes the entry's frame and records its position.
    func take(_ entry: InboxEntry) {
        delivered.value.store(entry.seq, ordering: .releasing)
        writer.write(LiveDelivery.frame(entry))
    }
}

extension DirectInbox where Sink == SocketSink {
    /// A live inbox writing to `writer`, recording in `delivered` what it wrote; subscribe it to the bus before
    /// the backlog is read.
    convenience init(writer: FrameWriter, delivered: DeliveredPosition, bufferSize: Int = 1024) {
        self.init(sink: SocketSink(writer: writer, delivered: delivered), bufferSize: bufferSize)
    }

    /// The frame of an inbox entry (spliced from the message serialized once, when the hub has it).
    static func frame(_ entry: InboxEntry) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: entry.frameJSON()))
    }
}
