@testable import Bridge
import GRDB
import Hub
import IMProtocol
import Testing

/// Pushes become one robot message per account, durably, once; TTLs, receipts and escalation.
@Suite struct DeliveryTests {
    static func rule(receipt: ReceiptPolicy? = nil, message: MessageMapping = .text) -> BridgeRule {
        BridgeRule(name: "orders", pushAppKey: Fixture.shop.appKey, accountsAppKey: Fixture.chat.appKey,
                   alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot", message: message, receipt: receipt)
    }

    @Test func aPushIsOneRobotMessagePerAccountInItsInbox() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice", "bob_b")
        let request = PushRequest(audience: .filter(.init(alias: ["uid_alice", "uid_bob_b"])),
                                  content: PushContent(alert: "Order 42 shipped", extras: ["order_id": "42"]), sendno: "7")
        let accepted = try await f.bridge.push(request, appKey: Fixture.shop.appKey)
        #expect(accepted.sendno == "7")
        for name in ["alice", "bob_b"] {
            let inbox = try await f.inbox(name)
            #expect(inbox.count == 1)
            let m = try #require(inbox.first?.stored).message
            #expect(m.fromType == .robot)
            #expect(m.fromID == "order_bot")
            #expect(m.fromAppKey == Fixture.chat.appKey)
            #expect(m.targetID == name)
            #expect(m.body == .text("Order 42 shipped", extras: ["order_id": "42", "jpush_msg_id": .string(String(accepted.msgID))]))
        }
        let deliveries = try await f.bridge.deliveries(msgID: accepted.msgID)
        #expect(deliveries.map(\.status) == [.delivered, .delivered])
        #expect(deliveries.allSatisfy { $0.seq == 1 && $0.hubMsgID != nil })
    }

    @Test func customAndTemplateMessages() async throws {
        let template = try MessageTemplate("Order {extras.order_id}: {alert} (for {username}, via {alias})")
        let f = try await Fixture.open(rules: [Self.rule(message: .template(template))])
        try await f.register("alice")
        _ = try await f.bridge.push(.init(audience: .filter(.init(alias: ["uid_alice"])),
                                          content: PushContent(alert: "shipped", extras: ["order_id": 42])),
                                    appKey: Fixture.shop.appKey)
        #expect(try await f.inbox("alice").first?.stored?.message.body.text == "Order 42: shipped (for alice, via uid_alice)")

        let g = try await Fixture.open(rules: [Self.rule(message: .custom)])
        try await g.register("alice")
        let accepted = try await g.bridge.push(.init(audience: .filter(.init(alias: ["uid_alice"])),
                                                     content: PushContent(title: "Order", msgContent: "{\"id\":42}",
                                                                          contentType: "json", extras: ["k": "v"])),
                                               appKey: Fixture.shop.appKey)
        let body = try #require(try await g.inbox("alice").first?.stored).message.body
        #expect(body == .custom(["msg_id": .string(String(accepted.msgID)), "title": "Order", "msg_content": "{\"id\":42}",
                                 "content_type": "json", "extras": ["k": "v"]]))
    }

    @Test func aRepeatedCidSendsNothingAndAnswersTheFirstMsgID() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice")
        let first = try await f.bridge.push(.alert("one", aliases: ["uid_alice"], cid: "cid-1"), appKey: Fixture.shop.appKey)
        let again = try await f.bridge.push(.alert("one", aliases: ["uid_alice"], cid: "cid-1"), appKey: Fixture.shop.appKey)
        let other = try await f.bridge.push(.alert("two", aliases: ["uid_alice"], cid: "cid-2"), appKey: Fixture.shop.appKey)
        #expect(again == first)
        #expect(other.msgID != first.msgID)
        #expect(try await f.inbox("alice").map { $0.stored?.message.body.text } == ["one", "two"])
    }

    @Test func validationResolvesButRecordsNothing() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice")
        let v = try await f.bridge.push(.alert("x", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey, validateOnly: true)
        #expect(v.msgID == 0)
        #expect(try await f.inbox("alice").isEmpty)
        await #expect(throws: BridgeError.noTarget) {
            try await f.bridge.push(.alert("x", aliases: ["uid_nobody"]), appKey: Fixture.shop.appKey, validateOnly: true)
        }
        await #expect(throws: BridgeError.noRule(Fixture.chat.appKey)) {
            try await f.bridge.push(.alert("x", aliases: ["uid_alice"]), appKey: Fixture.chat.appKey)
        }
    }

    @Test func timeToLiveExpiresTheInboxEntryAndIsReported() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice", "bob_b")
        let accepted = try await f.bridge.push(.alert("soon gone", aliases: ["uid_alice", "uid_bob_b"], ttl: 60),
                                               appKey: Fixture.shop.appKey)
        try await f.acknowledgeAll("bob_b")
        f.clock.advance(seconds: 59)
        #expect(try await f.inbox("alice").count == 1)
        f.clock.advance(seconds: 1)
        #expect(try await f.inbox("alice").isEmpty)          // dropped: never delivered after its TTL
        let pass = await f.bridge.runDue()
        #expect(pass.expired == 1)
        let counts = try await f.bridge.counts(appKey: Fixture.shop.appKey, msgIDs: [accepted.msgID])
        #expect(counts.first?.1?.received == 1)
        #expect(counts.first?.1?.expired == 1)
    }

    @Test func timeToLiveZeroIsOnlineOnly() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice")
        let accepted = try await f.bridge.push(.alert("now or never", aliases: ["uid_alice"], ttl: 0), appKey: Fixture.shop.appKey)
        #expect(try await f.inbox("alice").isEmpty)
        #expect(try await f.bridge.deliveries(msgID: accepted.msgID).map(\.status) == [.expired])
    }

    @Test func receiptsComeFromAnyDeviceOfTheAccount() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice")
        let accepted = try await f.bridge.push(.alert("hi", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        #expect(try await f.bridge.counts(appKey: Fixture.shop.appKey, msgIDs: [accepted.msgID]).first?.1?.received == 0)
        try await f.acknowledgeAll("alice", device: "tablet")
        #expect(try await f.bridge.counts(appKey: Fixture.shop.appKey, msgIDs: [accepted.msgID]).first?.1?.received == 1)
        // Another AppKey does not see the push.
        #expect(try await f.bridge.counts(appKey: Fixture.chat.appKey, msgIDs: [accepted.msgID]).first?.1 == nil)
    }

    @Test func aRecordedButUndeliveredPushIsDeliveredOnceAfterARestart() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        let users = try await f.register("alice")
        // What a crash between the durable record and the hand-over to the hub leaves behind.
        let (record, _) = try await f.bridge.store.recordPush(
            NewPush(appKey: Fixture.shop.appKey, cid: nil, sendno: "1", rule: "orders", content: PushContent(alert: "late"),
                    createdAt: f.clock.now(), timeToLive: 86400),
            deliveries: [NewDelivery(userID: users[0].id, appKey: Fixture.chat.appKey, username: "alice", alias: "uid_alice",
                                     registrationIDs: [], dueAt: nil)])
        let reopened = try await Fixture.open(rules: [Self.rule()], dir: f.dir, clock: f.clock)
        #expect(try await reopened.bridge.recover() == 1)
        #expect(try await reopened.bridge.recover() == 0)
        #expect(try await reopened.inbox("alice").map { $0.stored?.message.body.text } == ["late"])
        #expect(try await reopened.bridge.deliveries(msgID: record.msgID).map(\.status) == [.delivered])
    }

    @Test func aDeliveryWhoseStatusWasLostIsRecordedOnRecoveryWithoutASecondMessage() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice")
        // The status is queued, not awaited: a crash may lose it while the hub keeps the message.
        let accepted = try await f.bridge.push(.alert("kept", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        let delivered = try await f.bridge.deliveries(msgID: accepted.msgID)
        #expect(delivered.map(\.status) == [.delivered])
        let store = try #require(f.bridge.store as? SQLiteBridgeStore)
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE delivery SET status = 'pending', hub_msg_id = NULL, seq = NULL")
        }
        let reopened = try await Fixture.open(rules: [Self.rule()], dir: f.dir, clock: f.clock)
        #expect(try await reopened.bridge.recover() == 1)
        #expect(try await reopened.inbox("alice").map { $0.stored?.message.body.text } == ["kept"])
        let recovered = try await reopened.bridge.deliveries(msgID: accepted.msgID)
        #expect(recovered.map(\.status) == [.delivered])
        #expect(recovered.map(\.seq) == delivered.map(\.seq))
        #expect(recovered.map(\.hubMsgID) == delivered.map(\.hubMsgID))
    }

    @Test func escalationFiresStepByStepWhileUnreceived() async throws {
        let policy = ReceiptPolicy(within: .seconds(300), escalate: [.resend, .fallback(.init(kind: .single, id: "oncall"))])
        let f = try await Fixture.open(rules: [Self.rule(receipt: policy)])
        try await f.register("alice", "oncall")
        let accepted = try await f.bridge.push(.alert("pay now", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        #expect(await f.bridge.runDue().escalations.isEmpty)          // not due yet
        f.clock.advance(seconds: 300)
        let first = await f.bridge.runDue()
        #expect(first.escalations.map(\.action) == ["resend"])
        #expect(first.escalations.map(\.outcome) == ["ok"])
        #expect(try await f.inbox("alice").map { $0.stored?.message.body.text } == ["pay now", "pay now"])
        #expect(await f.bridge.runDue().escalations.isEmpty)          // the next step waits another 300 s
        f.clock.advance(seconds: 300)
        let second = await f.bridge.runDue()
        #expect(second.escalations.map(\.action) == ["fallback"])
        let notice = try #require(try await f.inbox("oncall").first?.stored).message
        #expect(notice.fromType == .robot)
        #expect(notice.body.text?.hasPrefix("Not received within 5m: push \(accepted.msgID) to alice (alias uid_alice): pay now") == true)
        f.clock.advance(seconds: 3000)
        #expect(await f.bridge.runDue().escalations.isEmpty)          // no steps left
        let counts = try await f.bridge.counts(appKey: Fixture.shop.appKey, msgIDs: [accepted.msgID])
        #expect(counts.first?.1?.escalations == 2)
    }

    @Test func escalationDoesNotFireOnceReceived() async throws {
        let policy = ReceiptPolicy(within: .seconds(60), escalate: [.fallback(.init(kind: .single, id: "oncall"))])
        let f = try await Fixture.open(rules: [Self.rule(receipt: policy)])
        try await f.register("alice", "oncall")
        _ = try await f.bridge.push(.alert("pay now", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        try await f.acknowledgeAll("alice")
        f.clock.advance(seconds: 61)
        let pass = await f.bridge.runDue()
        #expect(pass.escalations.isEmpty)
        #expect(pass.satisfied == 1)
        #expect(try await f.inbox("oncall").isEmpty)
    }

    @Test func aFallbackIntoAMissingGroupRecordsTheHubsRefusal() async throws {
        let policy = ReceiptPolicy(within: .seconds(60), escalate: [.fallback(.init(kind: .group, id: "10001"))])
        let f = try await Fixture.open(rules: [Self.rule(receipt: policy)])
        try await f.register("alice")
        _ = try await f.bridge.push(.alert("pay now", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        f.clock.advance(seconds: 60)
        let pass = await f.bridge.runDue()
        #expect(pass.escalations.map(\.action) == ["fallback"])
        // Without group 10001 the hub refuses the notice; the escalation records why.
        #expect(pass.escalations.first?.outcome.hasPrefix("failed: ") == true)
    }

    @Test func aFallbackIntoAnOnCallGroupReachesEveryMember() async throws {
        let f = try await Fixture.open(rules: [Self.rule()])
        try await f.register("alice", "oncall", "oncall2")
        let robot = try await f.hub.ensureRobot(appKey: Fixture.chat.appKey, NewUser(username: "order_bot", password: "robot-pass"))
        let group = try await f.hub.createGroup(appKey: Fixture.chat.appKey,
                                                NewGroup(owner: "oncall", name: "on call", members: [robot.username, "oncall2"]))
        let policy = ReceiptPolicy(within: .seconds(60), escalate: [.fallback(.init(kind: .group, id: String(group.gid)))])
        let g = try await Fixture.open(rules: [Self.rule(receipt: policy)], dir: f.dir, clock: f.clock)
        _ = try await g.bridge.push(.alert("pay now", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        f.clock.advance(seconds: 60)
        let pass = await g.bridge.runDue()
        #expect(pass.escalations.map(\.action) == ["fallback"])
        #expect(pass.escalations.first?.outcome.hasPrefix("failed") == false)
        for member in ["oncall", "oncall2"] {
            let notices = try await g.inbox(member).compactMap(\.stored)
            #expect(notices.count == 1)
            #expect(notices.first?.message.targetType == .group && notices.first?.message.fromID == "order_bot")
        }
    }

    @Test func aPendingDeadlineSurvivesReopeningTheStore() async throws {
        let policy = ReceiptPolicy(within: .seconds(60), escalate: [.fallback(.init(kind: .single, id: "oncall"))])
        let f = try await Fixture.open(rules: [Self.rule(receipt: policy)])
        try await f.register("alice", "oncall")
        _ = try await f.bridge.push(.alert("pay now", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        let reopened = try await Fixture.open(rules: [Self.rule(receipt: policy)], dir: f.dir, clock: f.clock)
        f.clock.advance(seconds: 60)
        #expect(await reopened.bridge.runDue().escalations.map(\.action) == ["fallback"])
        #expect(try await reopened.inbox("oncall").count == 1)
    }

    @Test func aClaimedDeadlineIsNotTakenTwiceUntilItsLeaseEnds() async throws {
        let f = try await Fixture.open(rules: [Self.rule(receipt: .init(within: .seconds(10), escalate: [.resend]))])
        try await f.register("alice")
        _ = try await f.bridge.push(.alert("x", aliases: ["uid_alice"]), appKey: Fixture.shop.appKey)
        let now = f.clock.now() + 10_000
        #expect(try await f.bridge.store.claimDue(now: now, leaseUntil: now + 60_000, limit: 10).count == 1)
        #expect(try await f.bridge.store.claimDue(now: now, leaseUntil: now + 60_000, limit: 10).isEmpty)
        #expect(try await f.bridge.store.claimDue(now: now + 60_000, leaseUntil: now + 120_000, limit: 10).count == 1)
    }
}
