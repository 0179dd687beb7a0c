import Foundation
import Hub
import IMProtocol
import Testing

@Suite("Hub messages")
struct HubMessagesTests {
    // MARK: Ids, times and sequence numbers

    @Test("msg_id increases and msg_ctime never decreases across sends", arguments: Backend.allCases)
    func idsAndTimesAscend(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            _ = try await hub.make("carol")
            var sent: [StoredMessage] = []
            for i in 0..<20 {
                sent.append(try await hub.sendText("m\(i)", from: alice, to: i.isMultiple(of: 2) ? "bobby" : "carol"))
            }
            for (a, b) in zip(sent, sent.dropFirst()) {
                #expect(b.msgID > a.msgID)
                #expect(b.msgCtime >= a.msgCtime)
            }
        }
    }

    @Test("msg_ctime is the hub's clock in milliseconds and create_time the same in seconds", arguments: Backend.allCases)
    func timesComeFromTheHub(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            let before = Hub.nowMillis()
            let sent = try await hub.sendText("hi", from: alice, to: "bobby")
            let after = Hub.nowMillis()
            #expect(sent.msgCtime >= before && sent.msgCtime <= after)
            #expect(abs(sent.message.createTime - sent.msgCtime / 1000) <= 1)
        }
    }

    @Test("the recipient's inbox gets seq 1, 2, 3... in send order", arguments: Backend.allCases)
    func inboxSequence(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let carol = try await hub.make("carol")
            let bob = try await hub.make("bobby")
            var sent: [StoredMessage] = []
            for i in 0..<6 {
                sent.append(try await hub.sendText("m\(i)", from: i < 3 ? alice : carol, to: "bobby"))
            }
            let inbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(inbox.map(\.seq) == [1, 2, 3, 4, 5, 6])
            #expect(inbox.map(\.message) == sent)
            #expect(inbox.map(\.message.message.body.text) == ["m0", "m1", "m2", "m3", "m4", "m5"])

            // Each inbox counts on its own.
            _ = try await hub.sendText("to alice", from: bob, to: "alice")
            #expect(try await hub.inbox(userID: alice.id, after: 0).map(\.seq) == [1])
            // The sender gets no entry of its own message.
            #expect(try await hub.inbox(userID: carol.id, after: 0).isEmpty)
        }
    }

    @Test("concurrent sends to one inbox get distinct, gapless seqs and distinct ids", arguments: Backend.allCases)
    func concurrentSends(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let bob = try await hub.make("bobby")
            var senders: [User] = []
            for i in 0..<4 { senders.append(try await hub.make("sender\(i)")) }
            let sent = try await withThrowingTaskGroup(of: StoredMessage.self) { group in
                for i in 0..<24 {
                    let sender = senders[i % senders.count]
                    group.addTask { try await hub.sendText("m\(i)", from: sender, to: "bobby") }
                }
                var all: [StoredMessage] = []
                for try await m in group { all.append(m) }
                return all
            }
            #expect(Set(sent.map(\.msgID)).count == 24)
            let inbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(inbox.map(\.seq) == Array(1...24))
            #expect(Set(inbox.map(\.message.msgID)) == Set(sent.map(\.msgID)))
            // Inbox order is commit order: ids and times ascend with seq.
            for (a, b) in zip(inbox, inbox.dropFirst()) {
                #expect(b.message.msgID > a.message.msgID)
                #expect(b.message.msgCtime >= a.message.msgCtime)
            }
        }
    }

    @Test("inbox(after:) returns only later entries, in order, up to the limit", arguments: Backend.allCases)
    func inboxAfterAndLimit(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            for i in 1...10 { _ = try await hub.sendText("m\(i)", from: alice, to: "bobby") }

            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.seq) == Array(1...10))
            #expect(try await hub.inbox(userID: bob.id, after: 4).map(\.seq) == [5, 6, 7, 8, 9, 10])
            #expect(try await hub.inbox(userID: bob.id, after: 4, limit: 3).map(\.seq) == [5, 6, 7])
            #expect(try await hub.inbox(userID: bob.id, after: 0, limit: 1).map(\.seq) == [1])
            #expect(try await hub.inbox(userID: bob.id, after: 9).map(\.seq) == [10])
            #expect(try await hub.inbox(userID: bob.id, after: 10).isEmpty)
            #expect(try await hub.inbox(userID: bob.id, after: 99).isEmpty)
            #expect(try await hub.inbox(userID: bob.id, after: 0, limit: 0).isEmpty)
            let texts = try await hub.inbox(userID: bob.id, after: 7).map(\.message.message.body.text)
            #expect(texts == ["m8", "m9", "m10"])

            // Paging by the last seen seq walks the whole inbox exactly once.
            var seen: [Int64] = []
            var after: Int64 = 0
            while true {
                let page = try await hub.inbox(userID: bob.id, after: after, limit: 4)
                guard let last = page.last else { break }
                seen += page.map(\.seq)
                after = last.seq
            }
            #expect(seen == Array(1...10))
        }
    }

    // MARK: Fields filled by the hub

    @Test("the hub fills from_type, from_id, from_appkey, from_platform and create_time", arguments: FromType.allCases)
    func senderFields(kind: FromType) async throws {
        try await withHub { hub, _ in
            let sender = try await hub.make("sender1", kind: kind)
            _ = try await hub.make("bobby")
            let sent = try await hub.sendText("hello", from: sender, to: "bobby", platform: "a")
            let m = sent.message
            #expect(m.fromType == kind)
            #expect(m.fromID == "sender1")
            #expect(m.fromAppKey == TestApps.a.appKey)
            #expect(m.fromPlatform == "a")
            #expect(m.targetType == .single)
            #expect(m.targetID == "bobby")
            #expect(m.targetAppKey == nil)
            #expect(m.version == 1)
            #expect(m.body == .text("hello"))
            #expect(abs(m.createTime - sent.msgCtime / 1000) <= 1)

            // What the recipient reads is what the sender was told.
            let bob = try await hub.user(appKey: TestApps.a.appKey, username: "bobby")
            #expect(try await hub.inbox(userID: bob.id, after: 0).first?.stored == sent)
        }
    }

    @Test("from_platform is whatever the session logged in with", arguments: ["a", "i", "w", "web", "api"])
    func platformAsGiven(platform: String) async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let sent = try await hub.sendText("x", from: alice, to: "bobby", platform: platform)
            #expect(sent.message.fromPlatform == platform)
            #expect(try await hub.inbox(userID: bob.id, after: 0).first?.message.message.fromPlatform == platform)
        }
    }

    @Test("from_name defaults to the sender's nickname; target_name and a same-app target_appkey are kept", arguments: Backend.allCases)
    func namesAndTargetAppKey(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice", profile: Profile(nickname: "Alice A."))
            let noNick = try await hub.make("carol")
            _ = try await hub.make("bobby")

            let defaulted = try await hub.sendText("1", from: alice, to: "bobby")
            #expect(defaulted.message.fromName == "Alice A.")
            let none = try await hub.sendText("2", from: noNick, to: "bobby")
            #expect(none.message.fromName == nil)

            let explicit = try await hub.send(
                .init(targetID: "bobby", targetAppKey: TestApps.a.appKey, targetName: "Bobby", fromName: "Al",
                      body: .text("3")),
                from: alice, platform: "web")
            #expect(explicit.message.fromName == "Al")
            #expect(explicit.message.targetName == "Bobby")
            #expect(explicit.message.targetAppKey == TestApps.a.appKey)

            // An empty target_appkey means the sender's app.
            let empty = try await hub.sendText("4", from: alice, to: "bobby", targetAppKey: "")
            #expect(empty.message.targetID == "bobby")
        }
    }

    @Test("every body type is stored and read back unchanged", arguments: Backend.allCases)
    func bodiesRoundTrip(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var text = MessageBody.Text(text: "multi\nline \"quoted\" ünïcødé 🐦", extras: ["n": .int(1)])
            text.additionalFields = ["client_key": .string("kept")]
            let bodies: [MessageBody] = [
                .text(text),
                .voice(.init(mediaID: "qiniu/voice/1", mediaCRC32: 123, duration: 3, format: "amr", fsize: 1000)),
                .image(.init(mediaID: "qiniu/image/1", mediaCRC32: 5, width: 640, height: 480, format: "png",
                             fsize: 2048, imgLink: "https://example.com/i.png")),
                .file(.init(mediaID: "qiniu/file/1", mediaCRC32: 7, fsize: 10, fname: "a.txt")),
                .location(.init(latitude: 31.25, longitude: 121.5, scale: 1, label: "Shanghai")),
                .video(.init(mediaID: "qiniu/video/1", mediaCRC32: 9, fsize: 99, duration: 1.5, format: "mp4")),
                .custom(["anything": .array([.int(1), .string("two"), .null])]),
            ]
            var sent: [StoredMessage] = []
            for body in bodies {
                sent.append(try await hub.send(.init(targetID: "bobby", body: body), from: alice, platform: "web"))
            }
            let inbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(inbox.map(\.message) == sent)
            #expect(inbox.map(\.message.message.body) == bodies)
        }
    }

    // MARK: Rules

    @Test("a message to an unknown user fails with 899002 and stores nothing", arguments: Backend.allCases)
    func unknownRecipient(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby", appKey: TestApps.b.appKey)
            let error = await #expect(throws: HubError.self) { try await hub.sendText("hi", from: alice, to: "nobody") }
            #expect(error?.code == .userNotFound)
            #expect(error?.message.contains("nobody") == true)
            // bob exists, but in the other app.
            let elsewhere = await #expect(throws: HubError.self) { try await hub.sendText("hi", from: alice, to: "bobby") }
            #expect(elsewhere?.code == .userNotFound)
            #expect(try await hub.history(allTime()).total == 0)
        }
    }

    @Test("msg_body is limited to 4096 serialized bytes (899003 above)", arguments: Backend.allCases)
    func bodySizeLimit(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            // {"text":"…"} adds 11 bytes around the text.
            let largest = String(repeating: "x", count: 4096 - 11)
            #expect(MessageBody.text(largest).json.serialized().count == 4096)
            _ = try await hub.sendText(largest, from: alice, to: "bobby")

            let error = await #expect(throws: HubError.self) {
                try await hub.sendText(largest + "x", from: alice, to: "bobby")
            }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message.hasPrefix("msg_body") == true)
            let huge = await #expect(throws: HubError.self) {
                try await hub.sendText(String(repeating: "é", count: 5000), from: alice, to: "bobby")
            }
            #expect(huge?.code == .invalidParameter)
            #expect(try await hub.inbox(userID: bob.id, after: 0).count == 1)
        }
    }

    @Test("the body limit is configurable")
    func configurableBodyLimit() async throws {
        try await Sandbox.with { sandbox in
            let hub = try await Hub(configuration: .init(apps: TestApps.all, passwordCost: 4, maxBodyBytes: 20),
                                    store: sandbox.openStore())
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            _ = try await hub.sendText("123456789", from: alice, to: "bobby")  // 20 bytes
            let error = await #expect(throws: HubError.self) { try await hub.sendText("1234567890", from: alice, to: "bobby") }
            #expect(error?.code == .invalidParameter)
        }
    }

    @Test("a group or chatroom target that is not a known id is refused (899003 or not found)", arguments: [TargetType.group, .chatroom])
    func unknownConversation(type: TargetType) async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            for target in ["bobby", "99999999"] {
                let error = await #expect(throws: HubError.self) {
                    try await hub.send(.init(targetType: type, targetID: target, body: .text("hi")), from: alice, platform: "web")
                }
                let expected: ErrorCode = target == "bobby" ? .invalidParameter : (type == .group ? .groupIDNotFound : .roomNotFound)
                #expect(error?.code == expected)
            }
            #expect(try await hub.history(allTime()).total == 0)
        }
    }

    @Test("a target_appkey of an app that does not allow the sender's app fails with 899020; an unknown one with 899009", arguments: Backend.allCases)
    func crossAppRefused(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bobInB = try await hub.make("bobby", appKey: TestApps.b.appKey)
            for (appKey, code) in [(TestApps.b.appKey, ErrorCode.crossAppNotPermitted), ("no-such-app", .appKeyNotFound)] {
                let error = await #expect(throws: HubError.self) {
                    try await hub.sendText("hi", from: alice, to: "bobby", targetAppKey: appKey)
                }
                #expect(error?.code == code)
            }
            #expect(try await hub.inbox(userID: bobInB.id, after: 0).isEmpty)
        }
    }

    @Test(
        "a body the hub accepts can always be read back (or is refused with 899003)",
        arguments: [
            MessageBody.voice(.init(mediaID: "", mediaCRC32: 1, duration: 1, format: "amr", fsize: 1)),
            MessageBody.location(.init(latitude: .nan, longitude: 0)),
        ]
    )
    func acceptedBodiesStayReadable(body: MessageBody) async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            do {
                _ = try await hub.send(.init(targetID: "bobby", body: body), from: alice, platform: "web")
            } catch {
                // Refusing the message up front is the other acceptable outcome.
                #expect((error as? HubError)?.code == .invalidParameter)
                return
            }
            _ = try await hub.sendText("next", from: alice, to: "bobby")
            #expect(try await hub.inbox(userID: bob.id, after: 0).count == 2)
            #expect(try await hub.history(allTime()).total == 2)
        }
    }

    // MARK: Offline rules

    @Test("no_offline: nothing waits for an offline recipient; the sender still gets an id", arguments: Backend.allCases)
    func noOfflineWhileOffline(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let sent = try await hub.send(.init(targetID: "bobby", body: .text("now or never"), noOffline: true),
                                          from: alice, platform: "web")
            #expect(sent.msgID > 0)
            #expect(try await hub.inbox(userID: bob.id, after: 0).isEmpty)
            // A normal message afterwards is bob's first entry.
            let normal = try await hub.sendText("kept", from: alice, to: "bobby")
            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.message) == [normal])
            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.seq) == [1])
        }
    }

    @Test("no_offline: an online recipient gets the entry, live and in its inbox", arguments: Backend.allCases)
    func noOfflineWhileOnline(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var live = hub.bus.subscribe(userID: bob.id).makeAsyncIterator()
            let sent = try await hub.send(.init(targetID: "bobby", body: .text("now"), noOffline: true),
                                          from: alice, platform: "web")
            let signal = await live.next()
            #expect(signal == InboxEntry(seq: 1, stored: sent))
            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.message) == [sent])
        }
    }

    @Test("an app without offline messages keeps nothing for offline recipients", arguments: Backend.allCases)
    func appWithoutOfflineMessages(_ backend: Backend) async throws {
        let online = AppSettings(appKey: "0123456789abcdef01234567", masterSecret: "s", offlineMessages: false)
        try await withHub(backend, apps: [TestApps.a, online]) { hub, _ in
            let alice = try await hub.make("alice", appKey: online.appKey)
            let bob = try await hub.make("bobby", appKey: online.appKey)
            let carol = try await hub.make("carol", appKey: online.appKey)
            _ = try await hub.sendText("lost", from: alice, to: "bobby")
            #expect(try await hub.inbox(userID: bob.id, after: 0).isEmpty)

            var live = hub.bus.subscribe(userID: carol.id).makeAsyncIterator()
            let delivered = try await hub.sendText("seen", from: alice, to: "carol")
            let signal = await live.next()
            #expect(signal == InboxEntry(seq: 1, stored: delivered))
            #expect(try await hub.inbox(userID: carol.id, after: 0).map(\.message) == [delivered])

            // The other app keeps offline messages as usual.
            let dave = try await hub.make("dave")
            let erin = try await hub.make("erin")
            _ = try await hub.sendText("kept", from: dave, to: "erin")
            #expect(try await hub.inbox(userID: erin.id, after: 0).count == 1)
        }
    }

    // MARK: Idempotency

    @Test("the same request_id from the same sender stores one message and one inbox entry", arguments: Backend.allCases)
    func idempotentRetry(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let first = try await hub.sendText("once", from: alice, to: "bobby", requestID: "req-1")
            let retry = try await hub.sendText("once", from: alice, to: "bobby", requestID: "req-1")
            #expect(retry.msgID == first.msgID)
            #expect(retry.msgCtime == first.msgCtime)
            #expect(retry == first)

            // Even a retry with another body (or platform) answers with the first message.
            let changed = try await hub.sendText("twice?", from: alice, to: "bobby", platform: "a", requestID: "req-1")
            #expect(changed == first)

            let inbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(inbox.map(\.seq) == [1])
            #expect(inbox.first?.stored == first)
            #expect(try await hub.history(allTime()).total == 1)

            // Another request id is another message.
            let other = try await hub.sendText("once", from: alice, to: "bobby", requestID: "req-2")
            #expect(other.msgID > first.msgID)
            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.seq) == [1, 2])
        }
    }

    @Test("messages without a request_id are never deduplicated", arguments: Backend.allCases)
    func noRequestID(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let a = try await hub.sendText("same", from: alice, to: "bobby")
            let b = try await hub.sendText("same", from: alice, to: "bobby")
            #expect(a.msgID != b.msgID)
            #expect(try await hub.inbox(userID: bob.id, after: 0).count == 2)
        }
    }

    @Test("the same request_id from another sender is a new message", arguments: Backend.allCases)
    func requestIDIsPerSender(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let carol = try await hub.make("carol")
            let aliceInB = try await hub.make("alice", appKey: TestApps.b.appKey)
            let bob = try await hub.make("bobby")
            _ = try await hub.make("bobby", appKey: TestApps.b.appKey)
            let fromAlice = try await hub.sendText("from alice", from: alice, to: "bobby", requestID: "shared")
            let fromCarol = try await hub.sendText("from carol", from: carol, to: "bobby", requestID: "shared")
            let fromAliceInB = try await hub.sendText("from alice in b", from: aliceInB, to: "bobby", requestID: "shared")
            #expect(Set([fromAlice.msgID, fromCarol.msgID, fromAliceInB.msgID]).count == 3)
            #expect(fromCarol.message.fromID == "carol")
            #expect(fromCarol.message.body.text == "from carol")
            let inbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(inbox.map(\.message) == [fromAlice, fromCarol])
        }
    }

    @Test("a repeated request wakes nobody: only new entries are published", arguments: Backend.allCases)
    func retryPublishesNothing(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var live = hub.bus.subscribe(userID: bob.id).makeAsyncIterator()
            let first = try await hub.sendText("a", from: alice, to: "bobby", requestID: "r")
            _ = try await hub.sendText("a", from: alice, to: "bobby", requestID: "r")
            let second = try await hub.sendText("b", from: alice, to: "bobby")
            let e1 = await live.next()
            let e2 = await live.next()
            #expect(e1 == InboxEntry(seq: 1, stored: first))
            #expect(e2 == InboxEntry(seq: 2, stored: second))
        }
    }

    // MARK: Cursors

    @Test("a device's cursor starts at 0 and moves forward with acknowledgements", arguments: Backend.allCases)
    func cursorForward(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let bob = try await hub.make("bobby")
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 0)
            try await hub.acknowledge(userID: bob.id, device: "phone", seq: 3)
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 3)
            try await hub.acknowledge(userID: bob.id, device: "phone", seq: 7)
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 7)
            try await hub.acknowledge(userID: bob.id, device: "phone", seq: 7)
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 7)
        }
    }

    @Test("acknowledging a lower seq never moves the cursor back", arguments: Backend.allCases)
    func cursorNeverBack(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let bob = try await hub.make("bobby")
            try await hub.acknowledge(userID: bob.id, device: "phone", seq: 10)
            for seq: Int64 in [9, 1, 0] {
                try await hub.acknowledge(userID: bob.id, device: "phone", seq: seq)
                #expect(try await hub.cursor(userID: bob.id, device: "phone") == 10)
            }
        }
    }

    @Test("cursors are per device and per account", arguments: Backend.allCases)
    func cursorsPerDevice(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let bob = try await hub.make("bobby")
            let carol = try await hub.make("carol")
            try await hub.acknowledge(userID: bob.id, device: "phone", seq: 5)
            try await hub.acknowledge(userID: bob.id, device: "laptop", seq: 2)
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 5)
            #expect(try await hub.cursor(userID: bob.id, device: "laptop") == 2)
            #expect(try await hub.cursor(userID: bob.id, device: "tablet") == 0)
            #expect(try await hub.cursor(userID: carol.id, device: "phone") == 0)
            try await hub.acknowledge(userID: carol.id, device: "phone", seq: 1)
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 5)
            #expect(try await hub.cursor(userID: carol.id, device: "phone") == 1)
        }
    }

    // MARK: Live notification

    @Test("a send publishes the new entry to the recipient's subscribers only", arguments: Backend.allCases)
    func sendPublishes(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var bobLive = hub.bus.subscribe(userID: bob.id).makeAsyncIterator()
            var aliceLive = hub.bus.subscribe(userID: alice.id).makeAsyncIterator()
            let toBob = try await hub.sendText("for bob", from: alice, to: "bobby")
            let toAlice = try await hub.sendText("for alice", from: bob, to: "alice")
            let bobFirst = await bobLive.next()
            let aliceFirst = await aliceLive.next()
            #expect(bobFirst == InboxEntry(seq: 1, stored: toBob))
            // alice's first signal is her own inbox entry, not bob's.
            #expect(aliceFirst == InboxEntry(seq: 1, stored: toAlice))
        }
    }

    // MARK: Durability

    @Test("accounts, inboxes, cursors and history survive a restart; ids and seqs continue")
    func durableAcrossRestart() async throws {
        try await Sandbox.with { sandbox in
            let before: [StoredMessage]
            let aliceID: Int64, bobID: Int64
            do {
                let hub = try await sandbox.openHub()
                let alice = try await hub.make("alice", password: "alice-pass", profile: Profile(nickname: "Al"))
                let bob = try await hub.make("bobby", password: "bob-pass")
                aliceID = alice.id
                bobID = bob.id
                var sent: [StoredMessage] = []
                for i in 1...3 { sent.append(try await hub.sendText("m\(i)", from: alice, to: "bobby", requestID: "r\(i)")) }
                sent.append(try await hub.sendText("reply", from: bob, to: "alice"))
                before = sent
                try await hub.acknowledge(userID: bob.id, device: "phone", seq: 2)
                try await hub.acknowledge(userID: alice.id, device: "web", seq: 1)
            }

            let hub = try await sandbox.openHub()
            let alice = try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "alice-pass")
            let bob = try await hub.login(appKey: TestApps.a.appKey, username: "bobby", password: "bob-pass")
            #expect(alice.id == aliceID)
            #expect(bob.id == bobID)
            #expect(alice.profile.nickname == "Al")

            let bobInbox = try await hub.inbox(userID: bob.id, after: 0)
            #expect(bobInbox.map(\.seq) == [1, 2, 3])
            #expect(bobInbox.map(\.message) == Array(before[0..<3]))
            #expect(try await hub.inbox(userID: alice.id, after: 0).map(\.message) == [before[3]])
            #expect(try await hub.cursor(userID: bob.id, device: "phone") == 2)
            #expect(try await hub.cursor(userID: alice.id, device: "web") == 1)
            #expect(try await hub.history(allTime()).messages == before)

            // Idempotency keys survive too.
            #expect(try await hub.sendText("m1", from: alice, to: "bobby", requestID: "r1") == before[0])

            let next = try await hub.sendText("after restart", from: alice, to: "bobby")
            #expect(next.msgID > before.last!.msgID)
            #expect(next.msgCtime >= before.last!.msgCtime)
            #expect(try await hub.inbox(userID: bob.id, after: 3).map(\.seq) == [4])
            #expect(try await hub.inbox(userID: bob.id, after: 3).first?.stored == next)
        }
    }

    // MARK: History

    @Test("history by username lists the messages it sent and received, and no others", arguments: Backend.allCases)
    func historyByUsername(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let carol = try await hub.make("carol")
            _ = try await hub.make("dave")
            let aliceInB = try await hub.make("alice", appKey: TestApps.b.appKey)
            _ = try await hub.make("bobby", appKey: TestApps.b.appKey)

            let m1 = try await hub.sendText("alice->bob", from: alice, to: "bobby")
            let m2 = try await hub.sendText("bob->alice", from: bob, to: "alice")
            let m3 = try await hub.sendText("carol->dave", from: carol, to: "dave")
            let m4 = try await hub.sendText("carol->alice", from: carol, to: "alice")
            let m5 = try await hub.sendText("alice(B)->bob(B)", from: aliceInB, to: "bobby")

            let aliceHistory = try await hub.history(allTime(username: "alice"))
            #expect(aliceHistory.messages == [m1, m2, m4])
            #expect(aliceHistory.total == 3)

            let daveHistory = try await hub.history(allTime(username: "dave"))
            #expect(daveHistory.messages == [m3])

            let nobody = try await hub.history(allTime(username: "nobody"))
            #expect(nobody.total == 0)
            #expect(nobody.messages.isEmpty)

            // The whole app, without the other app's messages.
            #expect(try await hub.history(allTime()).messages == [m1, m2, m3, m4])
            let inB = try await hub.history(allTime(username: "alice", appKey: TestApps.b.appKey))
            #expect(inB.messages == [m5])
            #expect(try await hub.history(allTime(appKey: TestApps.b.appKey)).messages == [m5])
        }
    }

    @Test("history honours the time range, inclusive at both ends", arguments: Backend.allCases)
    func historyTimeRange(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            var sent: [StoredMessage] = []
            for i in 0..<5 { sent.append(try await hub.sendText("m\(i)", from: alice, to: "bobby")) }
            let first = sent.first!.msgCtime, last = sent.last!.msgCtime

            func range(_ begin: Int64, _ end: Int64) async throws -> HistoryPage {
                try await hub.history(HistoryQuery(appKey: TestApps.a.appKey, username: "alice", beginTime: begin,
                                                   endTime: end, count: 100))
            }
            #expect(try await range(first, last).messages == sent)
            #expect(try await range(0, first - 1).total == 0)
            #expect(try await range(last + 1, .max).total == 0)
            let middle = sent[2].msgCtime
            let expected = sent.filter { $0.msgCtime == middle }
            let page = try await range(middle, middle)
            #expect(page.messages == expected)
            #expect(page.total == expected.count)
            #expect(try await range(last + 1, last).total == 0)
        }
    }

    @Test("history pages by afterMsgID, and total always counts the whole range", arguments: Backend.allCases)
    func historyPaging(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice")
            _ = try await hub.make("bobby")
            var sent: [StoredMessage] = []
            for i in 0..<5 { sent.append(try await hub.sendText("m\(i)", from: alice, to: "bobby")) }

            let p1 = try await hub.history(allTime(username: "bobby", count: 2))
            #expect(p1.messages == Array(sent[0..<2]))
            #expect(p1.total == 5)
            let p2 = try await hub.history(allTime(username: "bobby", count: 2, afterMsgID: p1.messages.last!.msgID))
            #expect(p2.messages == Array(sent[2..<4]))
            #expect(p2.total == 5)
            let p3 = try await hub.history(allTime(username: "bobby", count: 2, afterMsgID: p2.messages.last!.msgID))
            #expect(p3.messages == [sent[4]])
            #expect(p3.total == 5)
            let p4 = try await hub.history(allTime(username: "bobby", count: 2, afterMsgID: sent[4].msgID))
            #expect(p4.messages.isEmpty)
            #expect(p4.total == 5)
        }
    }
}
