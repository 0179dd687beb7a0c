import Bridge
import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Mynah

/// The push bridge end to end: a real daemon, JPush v3 over HTTP, accounts on real gateway clients.
@Suite struct BridgeEndToEndTests {
    /// Seed "Offline Messages with Multiple Account Logins": A logs out and B logs in on the same device (the
    /// alias is rebound to B); a push to A's alias is kept for A, reaches A at A's next login, and B never sees it.
    @Test func aPushToALoggedOutAccountWaitsForItsNextLoginAndNeverReachesTheNextUser() async throws {
        let clock = ManualClock()
        try await Demo.withDaemon(options: BridgeDemo.options(clock), configure: { BridgeDemo.configure(&$0) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")

            // A logs in on the phone: the app binds A's uid to the device's alias.
            try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
            let first = try await BridgeDemo.push(port, BridgeDemo.alert("welcome", aliases: ["uid_alice"]))
            let welcome = try await alice.messages.first()
            #expect(welcome.stored.message.body.text == "welcome")
            #expect(welcome.stored.message.fromType == .robot)
            #expect(welcome.stored.message.fromID == "notify_bot")
            try await BridgeDemo.acknowledge(alice, welcome.seq, to: "bob_b")
            #expect(try await BridgeDemo.received(port, first) == 1)

            // A quits; B logs in on the same phone and the alias now names B.
            alice.close()
            try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_bob_b")
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass", device: "phone-1")
            var bobInbox = bob.messages.makeAsyncIterator()
            let (skip, _) = try await nextMessage(&bobInbox)   // the ack barrier alice sent
            #expect(skip == "ack barrier")

            // The server keeps pushing to A by alias, as it did with JPush: no 1011, the message waits for A.
            let away = try await BridgeDemo.push(port, BridgeDemo.alert("your order shipped", aliases: ["uid_alice"]))
            #expect(try await BridgeDemo.received(port, away) == 0)
            // A push to the phone itself goes to whoever holds it now: B. It is the next thing B sees.
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("for the phone holder", registrationIDs: ["rid-phone-1"]))
            let (text, seq) = try await nextMessage(&bobInbox)
            #expect(text == "for the phone holder")
            bob.ack(seq)

            // B quits, A logs in again on the phone and reads what waited.
            bob.close()
            try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
            let again = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
            let waited = try await again.messages.first()
            #expect(waited.stored.message.body.text == "your order shipped")
            #expect(waited.stored.message.fromType == .robot)
            try await BridgeDemo.acknowledge(again, waited.seq, to: "bob_b")
            #expect(try await BridgeDemo.received(port, away) == 1)
            again.close()
        }
    }

    /// Seed "Alias Setting for Multiple Account Login": A logs out without clearing the alias, and pushes to A
    /// arrive before B sets its own; with the bridge they go to A's account, so B never receives them.
    @Test func pushesForAStillBoundAliasNeverReachTheNextUserOfTheDevice() async throws {
        let clock = ManualClock()
        try await Demo.withDaemon(options: BridgeDemo.options(clock), configure: { BridgeDemo.configure(&$0) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "bob_b", password: "bob-pass")
            try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")

            // A logged out without "set the alias to blank"; B logs in on the phone before updating the alias.
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob-pass", device: "phone-1")
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("for A by alias", aliases: ["uid_alice"]))
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("for A by device", registrationIDs: ["rid-phone-1"]))
            try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_bob_b")
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("for B", aliases: ["uid_bob_b"]))
            // B's first message is B's own: neither push for A reached B's inbox.
            let firstOfBob = try await bob.messages.first()
            #expect(firstOfBob.stored.message.body.text == "for B")
            #expect(firstOfBob.seq == 1)
            bob.close()

            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
            var inbox = alice.messages.makeAsyncIterator()
            #expect(try await nextMessage(&inbox).0 == "for A by alias")
            #expect(try await nextMessage(&inbox).0 == "for A by device")
            alice.close()
        }
    }

    @Test func anotherAppKeyPushesIntoTheDemoAppsAccounts() async throws {
        let clock = ManualClock()
        try await Demo.withDaemon(options: BridgeDemo.options(clock), configure: { BridgeDemo.configure(&$0) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            // The same username in the pushing app is someone else and gets nothing.
            _ = try await daemon.hub.register(appKey: BridgeDemo.shopAppKey, NewUser(username: "alice", password: "x-pass"),
                                              kind: .user)
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let msgID = try await BridgeDemo.push(port, BridgeDemo.alert("shipped", aliases: ["alice"], extras: ["order_id": "42"]),
                                                  authorization: BridgeDemo.shopBasic)
            let d = try await alice.messages.first()
            #expect(d.stored.message.body.text == "Order 42: shipped")
            #expect(d.stored.message.fromID == "order_bot")
            #expect(d.stored.message.fromAppKey == Demo.appKey)
            let shopAlice = try await daemon.hub.user(appKey: BridgeDemo.shopAppKey, username: "alice")
            #expect(try await daemon.hub.inbox(userID: shopAlice.id, after: 0).isEmpty)
            // The report belongs to the pushing AppKey.
            let (status, json) = try await REST(port: port).call("GET", "/v3/received?msg_ids=\(msgID)",
                                                                 authorization: BridgeDemo.shopBasic)
            #expect(status == 200)
            #expect(json?.arrayValue?.first?["android_received"] == 0)
            alice.close()
        }
    }

    @Test func aRetriedPushWithTheSameCidIsDeliveredOnce() async throws {
        let clock = ManualClock()
        try await Demo.withDaemon(options: BridgeDemo.options(clock), configure: { BridgeDemo.configure(&$0) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let a = try await BridgeDemo.push(port, BridgeDemo.alert("once", aliases: ["uid_alice"], cid: "retry-1"))
            let b = try await BridgeDemo.push(port, BridgeDemo.alert("once", aliases: ["uid_alice"], cid: "retry-1"))
            #expect(a == b)
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("next", aliases: ["uid_alice"]))
            var inbox = alice.messages.makeAsyncIterator()
            #expect(try await nextMessage(&inbox).0 == "once")
            #expect(try await nextMessage(&inbox).0 == "next")
            alice.close()
        }
    }

    @Test func anExpiredPushIsDroppedAndReported() async throws {
        let clock = ManualClock()
        try await Demo.withDaemon(options: BridgeDemo.options(clock), configure: { BridgeDemo.configure(&$0) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let stale = try await BridgeDemo.push(port, BridgeDemo.alert("flash sale", aliases: ["uid_alice"], ttl: 60))
            clock.advance(by: .seconds(61))
            #expect(await daemon.bridge.runDue().expired == 1)
            _ = try await BridgeDemo.push(port, BridgeDemo.alert("later", aliases: ["uid_alice"]))
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            #expect(try await alice.messages.first().stored.message.body.text == "later")
            let (_, json) = try await REST(port: port).call("GET", "/v3/messages?msg_ids=\(stale)")
            #expect(json?.arrayValue?.first?["bridge"]?["expired"] == 1)
            #expect(json?.arrayValue?.first?["android"]?["received"] == 0)
            alice.close()
        }
    }

    @Test func unreceivedPushesEscalateToTheOnCallChatAndAWebhook() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            let clock = ManualClock()
            let policy = ReceiptPolicy(within: .seconds(300), escalate: [
                .fallback(.init(kind: .single, id: "oncall_ops")), .webhook(url: url),
            ])
            try await Demo.withDaemon(options: BridgeDemo.options(clock),
                                      configure: { BridgeDemo.configure(&$0, receipt: policy) }) { daemon, port in
                try await Demo.register(daemon, "alice", password: "alice-pass")
                try await Demo.register(daemon, "oncall_ops", password: "oncall-pass")
                let oncall = try await Demo.client(port: port, username: "oncall_ops", password: "oncall-pass")
                let msgID = try await BridgeDemo.push(port, BridgeDemo.alert("server down", aliases: ["uid_alice"]))

                clock.advance(by: .seconds(299))
                #expect(await daemon.bridge.runDue().escalations.isEmpty)
                clock.advance(by: .seconds(1))
                #expect(await daemon.bridge.runDue().escalations.map(\.action) == ["fallback"])
                let notice = try await oncall.messages.first().stored.message
                #expect(notice.fromType == .robot)
                #expect(notice.body.text == "Not received within 5m: push \(msgID) to alice (alias uid_alice): server down")

                clock.advance(by: .seconds(300))
                let pass = await daemon.bridge.runDue()
                #expect(pass.escalations.map(\.outcome) == ["ok"])
                var hits = receiver.hits.makeAsyncIterator()
                let hit = try #require(await hits.next())
                #expect(hit["event"] == "not_received")
                #expect(hit["msg_id"] == .int(msgID))
                #expect(hit["username"] == "alice")
                #expect(hit["alias"] == "uid_alice")
                #expect(hit["step"] == 1)
                oncall.close()
            }
        }
    }

    @Test func aFailingWebhookIsRecordedAndTheNextStepStillRuns() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            let clock = ManualClock()
            let broken = url.replacingOccurrences(of: "/hooks/unreceived", with: "/hooks/broken")
            let policy = ReceiptPolicy(within: .seconds(60), escalate: [
                .webhook(url: broken), .fallback(.init(kind: .single, id: "oncall_ops")),
            ])
            try await Demo.withDaemon(options: BridgeDemo.options(clock),
                                      configure: { BridgeDemo.configure(&$0, receipt: policy) }) { daemon, port in
                try await Demo.register(daemon, "alice", password: "alice-pass")
                try await Demo.register(daemon, "oncall_ops", password: "oncall-pass")
                let msgID = try await BridgeDemo.push(port, BridgeDemo.alert("server down", aliases: ["uid_alice"]))
                clock.advance(by: .seconds(60))
                #expect(await daemon.bridge.runDue().escalations.map(\.outcome) == ["failed: HTTP 500"])
                clock.advance(by: .seconds(60))
                #expect(await daemon.bridge.runDue().escalations.map(\.outcome) == ["ok"])
                let (_, json) = try await REST(port: port).call("GET", "/v3/messages?msg_ids=\(msgID)")
                #expect(json?.arrayValue?.first?["bridge"]?["escalations"] == 2)
            }
        }
    }

    @Test func aReceivedPushDoesNotEscalate() async throws {
        let clock = ManualClock()
        let policy = ReceiptPolicy(within: .seconds(300), escalate: [.fallback(.init(kind: .single, id: "oncall_ops"))])
        try await Demo.withDaemon(options: BridgeDemo.options(clock),
                                  configure: { BridgeDemo.configure(&$0, receipt: policy) }) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            try await Demo.register(daemon, "oncall_ops", password: "oncall-pass")
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let msgID = try await BridgeDemo.push(port, BridgeDemo.alert("server down", aliases: ["uid_alice"]))
            let d = try await alice.messages.first()
            try await BridgeDemo.acknowledge(alice, d.seq, to: "oncall_ops")
            clock.advance(by: .seconds(301))
            let pass = await daemon.bridge.runDue()
            #expect(pass.escalations.isEmpty)
            #expect(pass.satisfied == 1)
            let oncall = try await daemon.hub.user(appKey: Demo.appKey, username: "oncall_ops")
            // Only alice's ack barrier is in the on-call inbox: no notice.
            #expect(try await daemon.hub.inbox(userID: oncall.id, after: 0).map { $0.stored?.message.fromID } == ["alice"])
            #expect(try await BridgeDemo.received(port, msgID) == 1)
            alice.close()
        }
    }

    @Test func aPendingDeadlineFiresAfterARestart() async throws {
        let dir = try TemporaryDirectory()
        let clock = ManualClock()
        let policy = ReceiptPolicy(within: .seconds(600), escalate: [.fallback(.init(kind: .single, id: "oncall_ops"))])
        let configure: (inout MynahConfiguration) -> Void = { BridgeDemo.configure(&$0, receipt: policy) }
        let first = try await Demo.daemon(dir, options: BridgeDemo.options(clock), configure: configure)
        let msgID = try await first.withRunning { port in
            try await Demo.register(first, "alice", password: "alice-pass")
            try await Demo.register(first, "oncall_ops", password: "oncall-pass")
            return try await BridgeDemo.push(port, BridgeDemo.alert("disk full", aliases: ["uid_alice"]))
        }

        let second = try await Demo.daemon(dir, options: BridgeDemo.options(clock), configure: configure)
        try await second.withRunning { port in
            let oncall = try await Demo.client(port: port, username: "oncall_ops", password: "oncall-pass")
            clock.advance(by: .seconds(600))
            #expect(await second.bridge.runDue().escalations.map(\.action) == ["fallback"])
            let notice = try await oncall.messages.first().stored.message
            #expect(notice.body.text?.contains("push \(msgID) to alice") == true)
            oncall.close()
        }
    }
}

/// The text and seq of the next delivery.
func nextMessage(_ iterator: inout AsyncStream<ServerFrame.Delivery>.Iterator) async throws -> (String?, Int64) {
    let d = try #require(await iterator.next())
    return (d.stored.message.body.text, d.seq)
}
