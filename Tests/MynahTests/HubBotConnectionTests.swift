import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import Testing
import MynahTesting
@testable import Mynah

/// The embedded bots' in-process connection: the same guarantees as a gateway session, without the gateway.
@Suite struct HubBotConnectionTests {
    static let robot = NewUser(username: "helper_bot", password: "helper-secret")

    static var logger: Logger {
        var logger = Logger(label: "mynah.test.bot")
        logger.logLevel = .warning
        return logger
    }

    /// A hub (cheap bcrypt) on `dir`'s SQLite file: opening a second one on the same directory is a restart.
    static func hub(_ dir: TemporaryDirectory, bus: InboxBus = InboxBus()) async throws -> Hub {
        try await Hub(configuration: .init(apps: [AppSettings(appKey: Demo.appKey, masterSecret: Demo.secret, name: "Demo")],
                                           passwordCost: 4),
                      store: SQLiteHubStore(path: dir.path + "/hub.sqlite"), bus: bus)
    }

    static func open(_ hub: Hub, password: String = robot.password, window: Int = 1024) async throws -> HubBotConnection {
        try await HubBotConnection.open(hub: hub, appKey: Demo.appKey, username: robot.username, password: password,
                                        window: window, logger: logger)
    }

    static func user(_ hub: Hub, _ username: String) async throws -> User {
        try await hub.register(appKey: Demo.appKey, NewUser(username: username, password: "\(username)-pass"), kind: .user)
    }

    static func text(_ event: ConnectionEvent?) -> String? {
        guard case .delivery(let delivery) = event else { return nil }
        return delivery.stored.message.body.text
    }

    @Test func aRestartedBotResumesAfterItsAcknowledgementsWithNoGapAndNoDuplicate() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        let robot = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")
        for i in 1...5 { _ = try await hub.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: alice, platform: "web") }

        let first = try await Self.open(hub)
        var events = first.inbox.makeAsyncIterator()
        for i in 1...3 {
            let event = await events.next()
            #expect(Self.text(event) == "m\(i)")
            #expect(event?.seq == Int64(i))
            if let event { first.ack(event.seq) }
        }
        await first.acknowledgementsStored()
        first.close()
        // The acknowledgement is the device's cursor in the store.
        #expect(try await hub.cursor(userID: robot.id, device: "bot") == 3)

        // While the bot is down, then the daemon restarts (a new hub on the same file).
        for i in 6...7 { _ = try await hub.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: alice, platform: "web") }
        let restarted = try await Self.hub(dir)
        let second = try await Self.open(restarted)
        var again = second.inbox.makeAsyncIterator()
        let aliceAgain = try await restarted.user(appKey: Demo.appKey, username: "alice")
        // Live messages while the backlog is being handed over: the switch from store to bus repeats and skips nothing.
        for i in 8...10 { _ = try await restarted.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: aliceAgain, platform: "web") }
        var texts: [String?] = []
        var seqs: [Int64] = []
        for _ in 4...10 {
            let event = await again.next()
            texts.append(Self.text(event))
            seqs.append(event?.seq ?? -1)
        }
        #expect(texts == (4...10).map { "m\($0)" })
        #expect(seqs == Array(4...10))

        // An acknowledgement beyond what was delivered is refused; the cursor stays.
        second.ack(50)
        await second.acknowledgementsStored()
        #expect(try await restarted.cursor(userID: robot.id, device: "bot") == 3)
        second.ack(10)
        await second.acknowledgementsStored()
        #expect(try await restarted.cursor(userID: robot.id, device: "bot") == 10)
        second.close()
        #expect(await again.next() == nil)
    }

    @Test func aLongBacklogComesThroughASmallWindowInOrder() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        _ = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")
        for i in 1...40 { _ = try await hub.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: alice, platform: "web") }
        let connection = try await HubBotConnection.open(hub: hub, appKey: Demo.appKey, username: Self.robot.username,
                                                         password: Self.robot.password, window: 4, backlogBatch: 3,
                                                         logger: Self.logger)
        var events = connection.inbox.makeAsyncIterator()
        for i in 1...40 {
            let event = await events.next()
            #expect(Self.text(event) == "m\(i)")
            if let event { connection.ack(event.seq) }
        }
        connection.close()
    }

    /// Live entries reach the bot from the bus's call (`DirectInbox`) only while the window has room; beyond it the
    /// reading task waits for acknowledgements, as for a backlog.
    @Test func liveEntriesStopAtTheWindowUntilTheBotAcknowledges() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        let robot = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")
        let connection = try await Self.open(hub, window: 3)
        // Each send returns after its entry was published to the bot's live inbox.
        for i in 1...10 { _ = try await hub.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: alice, platform: "web") }
        // Only three were handed over: an acknowledgement of the tenth is beyond what was delivered, and refused.
        connection.ack(10)
        await connection.acknowledgementsStored()
        #expect(try await hub.cursor(userID: robot.id, device: "bot") == 0)
        var events = connection.inbox.makeAsyncIterator()
        var texts: [String?] = []
        for _ in 1...10 {
            let event = await events.next()
            texts.append(Self.text(event))
            if let event { connection.ack(event.seq) }
        }
        #expect(texts == (1...10).map { "m\($0)" })
        // And once the task has handed back to the bus's call, live entries flow directly again, in order.
        for i in 11...15 { _ = try await hub.send(.init(targetID: "helper_bot", body: .text("m\(i)")), from: alice, platform: "web") }
        for i in 11...15 {
            let event = await events.next()
            #expect(Self.text(event) == "m\(i)")
            if let event { connection.ack(event.seq) }
        }
        await connection.acknowledgementsStored()
        #expect(try await hub.cursor(userID: robot.id, device: "bot") == 15)
        connection.close()
        #expect(await events.next() == nil)
    }

    @Test func onlyARobotConnectsAndItsMessagesGoThroughTheHubsRulesAsItself() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        _ = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")

        // A user's account cannot be a bot's, even with its own password; a wrong password is refused as at login.
        let notARobot = await #expect(throws: HubError.self) {
            try await HubBotConnection.open(hub: hub, appKey: Demo.appKey, username: "alice", password: "alice-pass",
                                            logger: Self.logger)
        }
        #expect(notARobot?.code == .senderNotPermitted)
        let wrongPassword = await #expect(throws: HubError.self) { try await Self.open(hub, password: "not-the-secret") }
        #expect(wrongPassword?.code == .authenticationFailed)

        let connection = try await Self.open(hub)
        let sent = try await connection.send(.init(id: "s1", requestID: "r1", targetID: "alice", fromName: "Helper",
                                                   body: .text("hello")))
        #expect(sent.id == "s1")
        // The same request id is stored once, as over the gateway.
        #expect(try await connection.send(.init(requestID: "r1", targetID: "alice", body: .text("hello"))).msgID == sent.msgID)
        let inbox = try await hub.inbox(userID: alice.id, after: 0)
        #expect(inbox.count == 1)
        let message = try #require(inbox.first?.stored).message
        #expect(message.fromType == .robot)
        #expect(message.fromID == "helper_bot")
        #expect(message.fromPlatform == "api")

        // The hub's rules apply: not a member of the group it writes to, an unknown user, a forbidden robot.
        let group = try await hub.createGroup(appKey: Demo.appKey, NewGroup(owner: "alice", name: "team"))
        let notMember = await #expect(throws: IMClient.Failure.self) {
            try await connection.send(.init(targetType: .group, targetID: "\(group.gid)", body: .text("hi")))
        }
        #expect(notMember == .rejected(.init(code: .senderNotInGroup, message: "'helper_bot' is not a member of group \(group.gid)")))
        let unknown = await #expect(throws: IMClient.Failure.self) {
            try await connection.send(.init(targetID: "nobody", body: .text("hi")))
        }
        #expect(Self.code(unknown) == .userNotFound)
        try await hub.setForbidden(appKey: Demo.appKey, username: "helper_bot", true)
        let forbidden = await #expect(throws: IMClient.Failure.self) {
            try await connection.send(.init(targetID: "alice", body: .text("still here?")))
        }
        #expect(Self.code(forbidden) == .userForbidden)
        connection.close()
        let closed = await #expect(throws: IMClient.Failure.self) {
            try await connection.send(.init(targetID: "alice", body: .text("closed")))
        }
        #expect(closed == .connectionClosed)
    }

    static func code(_ failure: IMClient.Failure?) -> ErrorCode? {
        guard case .rejected(let refusal) = failure else { return nil }
        return refusal.code
    }

    @Test func membershipChangesAndGroupMessagesReachTheBotInInboxOrder() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        _ = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")
        _ = try await Self.user(hub, "bob_b")
        let connection = try await Self.open(hub)
        var events = connection.inbox.makeAsyncIterator()
        // The group's creation announces nobody; later joins and leaves are announced to the members.
        let group = try await hub.createGroup(appKey: Demo.appKey, NewGroup(owner: "alice", name: "team", members: ["helper_bot"]))
        try await hub.changeMembers(appKey: Demo.appKey, gid: group.gid, add: ["bob_b"], remove: [])
        _ = try await hub.send(.init(targetType: .group, targetID: "\(group.gid)", body: .text("welcome")), from: alice,
                               platform: "web")
        try await hub.changeMembers(appKey: Demo.appKey, gid: group.gid, add: [], remove: ["bob_b"])
        let conversation = Conversation.group(String(group.gid), appKey: Demo.appKey)
        var seen: [ConnectionEvent] = []
        while seen.count < 3, let event = await events.next() {
            if case .other = event { continue }
            seen.append(event)
        }
        guard seen.count == 3 else {
            Issue.record("expected 3 events, got \(seen)")
            return
        }
        #expect(seen[0] == .membersJoined(MembershipChange(conversation: conversation, usernames: ["bob_b"]), seq: seen[0].seq))
        #expect(Self.text(seen[1]) == "welcome")
        #expect(seen[2] == .membersLeft(MembershipChange(conversation: conversation, usernames: ["bob_b"]), seq: seen[2].seq))
        #expect(seen.map(\.seq) == seen.map(\.seq).sorted())
        connection.close()
    }

    @Test func anEventIsWhatTheGatewayClientMakesOfTheSameEntry() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        let robot = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let alice = try await Self.user(hub, "alice")
        _ = try await Self.user(hub, "bob_b")
        let live = hub.bus.subscribe(userID: robot.id)
        var published = live.makeAsyncIterator()
        let group = try await hub.createGroup(appKey: Demo.appKey, NewGroup(owner: "alice", name: "team", members: ["helper_bot"]))
        try await hub.changeMembers(appKey: Demo.appKey, gid: group.gid, add: ["bob_b"], remove: [])
        _ = try await hub.send(.init(targetID: "helper_bot", body: .text("quiet ✓ \"quoted\"")), from: alice, platform: "web",
                               noNotification: true)
        var entries = try await hub.inbox(userID: robot.id, after: 0)
        while let entry = await published.next() {
            entries.append(entry)                              // the bus's entries carry the hub's encoding
            if entry.stored != nil { break }
        }
        #expect(entries.contains { $0.stored != nil } && entries.contains { $0.event != nil })
        for entry in entries {
            let parsed: ConnectionEvent
            switch try ServerFrame(json: entry.frameJSON()) {
            case .message(let delivery): parsed = .delivery(delivery)
            case .event(let event): parsed = ConnectionEvent(event)
            default: Issue.record("not an inbox frame"); continue
            }
            #expect(HubBotConnection.event(entry) == parsed)
        }
    }

    @Test func theRobotIsOnlineWhileItsConnectionIsOpen() async throws {
        let dir = try TemporaryDirectory()
        let hub = try await Self.hub(dir)
        _ = try await hub.ensureRobot(appKey: Demo.appKey, Self.robot)
        let before = try await hub.userStat(appKey: Demo.appKey, username: "helper_bot")
        #expect(!before.login && !before.online && before.devices.isEmpty)
        let connection = try await Self.open(hub)
        let open = try await hub.userStat(appKey: Demo.appKey, username: "helper_bot")
        #expect(open.login && open.online)
        #expect(open.devices.map { "\($0.device) \($0.platform) \($0.login) \($0.online)" } == ["bot api true true"])
        connection.close()
        let closed = try await hub.userStat(appKey: Demo.appKey, username: "helper_bot")
        #expect(closed.login && !closed.online)
        #expect(closed.devices.map { "\($0.device) \($0.platform) \($0.login) \($0.online)" } == ["bot api true false"])
    }

    @Test func embeddedBotsAnswerWithoutTheHTTPServer() async throws {
        let dir = try TemporaryDirectory()
        let daemon = try await Demo.daemon(dir)            // not running: nothing listens
        let alice = try await Self.user(daemon.hub, "alice")
        let live = daemon.hub.bus.subscribe(userID: alice.id)
        let service = BotService(entries: daemon.bots, hub: daemon.hub, logger: Self.logger)
        let running = Task { try await service.run() }
        _ = try await daemon.hub.send(.init(targetID: "echo_bot", body: .text("ping")), from: alice, platform: "web")
        var reader = InboxReader(hub: daemon.hub, userID: alice.id, after: 0, live: live)
        let reply = try #require(try await reader.next()?.stored).message
        #expect(reply.fromID == "echo_bot")
        #expect(reply.body.text == "ping")
        #expect(try await daemon.hub.userStat(appKey: Demo.appKey, username: "echo_bot").online)
        running.cancel()
        try await running.value
        #expect(try await daemon.hub.userStat(appKey: Demo.appKey, username: "echo_bot").online == false)
    }
}
