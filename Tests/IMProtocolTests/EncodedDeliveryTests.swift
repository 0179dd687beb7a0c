import IMProtocol
import Testing

@Suite("EncodedDelivery")
struct EncodedDeliveryTests {
    static let messages: [StoredMessage] = [
        StoredMessage(msgID: 1, msgCtime: 2, message: Message(
            targetType: .single, targetID: "javen", fromType: .user, fromID: "fang", fromPlatform: nil,
            createTime: 0, body: .text("hi"))),
        StoredMessage(msgID: 9_007_199_254_740_993, msgCtime: 1_700_000_000_123, message: Message(
            targetType: .group, targetID: "10001", targetAppKey: "other-app", targetName: "Team \"A\"\n",
            fromType: .robot, fromID: "echo_bot", fromAppKey: "my-app", fromName: "Écho 🤖", fromPlatform: "web",
            createTime: 1_700_000_000,
            body: .text("quote \" backslash \\ tab \t control \u{1} 中文", extras: ["mention": ["javen"], "n": 1.5]))),
        StoredMessage(msgID: 3, msgCtime: 4, message: Message(
            targetType: .chatroom, targetID: "77", fromType: .admin, fromID: "admin", fromPlatform: "api",
            createTime: 5, body: .custom(["card": ["k": 1.5, "list": [1, "two", nil, true]]]))),
    ]

    @Test("a spliced frame has the bytes of the frame encoded in full", arguments: messages)
    func splicedEqualsFull(stored: StoredMessage) throws {
        let encoded = EncodedDelivery(stored)
        for seq: Int64 in [0, 1, 42, 9_007_199_254_740_993] {
            for quiet in [false, true] {
                let full = ServerFrame.message(.init(seq: seq, stored: stored, noNotification: quiet)).json.serialized()
                let spliced = encoded.frame(seq: seq, noNotification: quiet)
                #expect(spliced == full)
                // And it reads back as the same frame.
                let parsed = try ServerFrame(json: spliced)
                #expect(parsed == .message(.init(seq: seq, stored: stored, noNotification: quiet)))
            }
        }
    }
}
