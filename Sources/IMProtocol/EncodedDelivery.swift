/// The part of a `msg` frame that is the same for every recipient of one stored message, serialized once.
///
/// A group message reaches every member's sessions as a `msg` frame that differs only in `seq` and
/// `no_notification`. Encoding the whole frame per delivery rebuilds and re-serializes the message each time;
/// this keeps the serialized `{"message":…,"msg_ctime":…,"msg_id":…,` once and splices the recipient's fields
/// after it. The bytes equal `ServerFrame.message(…).json.serialized()` (keys in sorted order).
///
/// ```swift
/// let encoded = EncodedDelivery(stored)                      // once per message
/// let bytes = encoded.frame(seq: 42, noNotification: false)  // per recipient
/// ```
public struct EncodedDelivery: Sendable, Hashable {
    /// `{"message":<message>,"msg_ctime":<ms>,"msg_id":<id>,`: the frame up to the recipient's fields.
    public let head: [UInt8]

    /// Serializes `stored`'s message once; `messageJSON`, when given, is that serialization already made (the text
    /// the store keeps), used as it is.
    public init(_ stored: StoredMessage, messageJSON: [UInt8]? = nil) {
        let messageJSON = messageJSON ?? stored.message.serializedJSON()
        var head: [UInt8] = []
        head.reserveCapacity(messageJSON.count + 64)
        head.append(contentsOf: #"{"message":"#.utf8)
        head.append(contentsOf: messageJSON)
        head.append(contentsOf: #","msg_ctime":"#.utf8)
        head.append(contentsOf: String(stored.msgCtime).utf8)
        head.append(contentsOf: #","msg_id":"#.utf8)
        head.append(contentsOf: String(stored.msgID).utf8)
        head.append(UInt8(ascii: ","))
        self.head = head
    }

    /// The fields after ``head`` for one recipient: `"no_notification":true,` when quiet, `"op":"msg","seq":N}`.
    public static func tail(seq: Int64, noNotification: Bool) -> String {
        (noNotification ? #""no_notification":true,"op":"msg","seq":"# : #""op":"msg","seq":"#) + String(seq) + "}"
    }

    /// The whole `msg` frame for one recipient.
    public func frame(seq: Int64, noNotification: Bool) -> [UInt8] {
        let tail = Self.tail(seq: seq, noNotification: noNotification)
        var out: [UInt8] = []
        out.reserveCapacity(head.count + tail.utf8.count)
        out.append(contentsOf: head)
        out.append(contentsOf: tail.utf8)
        return out
    }
}
