import Foundation
import IMClient
import IMProtocol
import Synchronization
import Testing
import MynahTesting

/// Three `mynah run` child processes on one PostgreSQL database: users on different nodes chat 1:1, in a group and
/// in a chatroom; presence spans the nodes; a node killed with SIGKILL mid-burst loses nothing acknowledged, its
/// clients resume on another node without repeats, and its sessions expire on the others. One test at a time: each
/// runs three daemons.
@Suite(.serialized) struct ClusterTests {
    typealias Node = CrashRecoveryTests.DaemonProcess

    /// Runs `body` with `count` nodes on a fresh database (each with its own data directory); stops the nodes
    /// still running afterwards.
    static func withNodes(_ count: Int, _ body: ([Node]) async throws -> Void) async throws {
        try await TestPostgres.withFreshDatabase { _, url in
            var dirs: [TemporaryDirectory] = []
            var nodes: [Node] = []
            do {
                for _ in 0..<count {
                    let dir = try TemporaryDirectory()
                    dirs.append(dir)
                    let config = try CrashRecoveryTests.writeConfig(dir, extra: """
                        storage:
                          postgres:
                            url: \(url)
                            tls: disable
                        """)
                    nodes.append(try await Node.start(configPath: config))
                }
                try await body(nodes)
            } catch {
                for node in nodes where node.process.isRunning { node.stop() }
                throw error
            }
            for node in nodes where node.process.isRunning { node.stop() }
            withExtendedLifetime(dirs) {}
        }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(within timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    static func register(_ names: [String], on node: Node) async throws {
        let body = "[" + names.map { #"{"username":"\#($0)","password":"pass-\#($0)"}"# }.joined(separator: ",") + "]"
        let registered = try await REST(port: node.port).call("POST", "/v1/users/", body: body)
        #expect(registered.status == 201)
    }

    static func client(_ name: String, on node: Node, since: Int64? = nil) async throws -> IMClient {
        try await Demo.client(port: node.port, username: name, password: "pass-\(name)", since: since)
    }

    /// The next `count` messages of `client`, failing the test if its stream ends first.
    static func take(_ count: Int, from client: IMClient) async throws -> [ServerFrame.Delivery] {
        var iterator = client.messages.makeAsyncIterator()
        var got: [ServerFrame.Delivery] = []
        while got.count < count {
            got.append(try #require(await iterator.next()))
        }
        return got
    }

    @Test func usersOnDifferentNodesChatOneToOneAndInAGroupEachMessageOnceInOrder() async throws {
        try await Self.withNodes(3) { nodes in
            try await Self.register(["alice", "bob_b", "carol"], on: nodes[0])
            let alice = try await Self.client("alice", on: nodes[0])
            let bob = try await Self.client("bob_b", on: nodes[1])
            let carol = try await Self.client("carol", on: nodes[2])

            // 1:1 both ways at once, across nodes.
            async let toBob: [Int64] = (1...20).asyncMap { i in
                try await alice.send(.init(targetID: "bob_b", body: .text("a\(i)"))).msgID
            }
            async let toAlice: [Int64] = (1...20).asyncMap { i in
                try await bob.send(.init(targetID: "alice", body: .text("b\(i)"))).msgID
            }
            let (sentToBob, sentToAlice) = try await (toBob, toAlice)
            let bobGot = try await Self.take(20, from: bob)
            let aliceGot = try await Self.take(20, from: alice)
            #expect(bobGot.map(\.stored.msgID) == sentToBob)
            #expect(bobGot.map(\.seq) == Array(1...20))
            #expect(aliceGot.map(\.stored.msgID) == sentToAlice)
            #expect(aliceGot.map(\.seq) == Array(1...20))

            // A group whose members sit on three nodes, created through a fourth party's REST call on node 2.
            let created = try await REST(port: nodes[2].port).call("POST", "/v1/groups/", body: """
                {"owner_username":"alice","name":"ops","members_username":["bob_b","carol"]}
                """)
            #expect(created.status == 201)
            let gid = String(try #require(created.json?["gid"]?.intValue))
            let members = [("alice", alice), ("bob_b", bob), ("carol", carol)]
            let sent = try await withThrowingTaskGroup(of: (String, [Int64]).self) { group in
                for (name, client) in members {
                    group.addTask {
                        (name, try await (1...10).asyncMap { i in
                            try await client.send(.init(targetType: .group, targetID: gid, body: .text("\(name)-\(i)"))).msgID
                        })
                    }
                }
                var sent: [String: [Int64]] = [:]
                for try await (name, ids) in group { sent[name] = ids }
                return sent
            }
            for (name, client) in members {
                let got = try await Self.take(20, from: client)
                let seqs = got.map(\.seq)
                #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "\(name): seqs \(seqs)")
                #expect(Set(got.map(\.stored.msgID)).count == 20, "\(name) got a message twice")
                for (other, ids) in sent where other != name {
                    // Each sender's messages arrive in the order they were sent.
                    #expect(got.filter { $0.stored.message.fromID == other }.map(\.stored.msgID) == ids, "\(name) from \(other)")
                }
                #expect(!got.contains { $0.stored.message.fromID == name })
            }
            for client in [alice, bob, carol] { client.close() }
        }
    }

    @Test func presenceSpansTheNodesAndADeadNodesSessionsExpire() async throws {
        try await Self.withNodes(3) { nodes in
            try await Self.register(["alice", "bob_b", "carol"], on: nodes[0])
            let restOn0 = REST(port: nodes[0].port)
            func online(_ name: String) async throws -> Bool {
                try await restOn0.call("GET", "/v1/users/\(name)/userstat").json?["online"]?.boolValue == true
            }
            #expect(try await !online("carol"))
            let carol = try await Self.client("carol", on: nodes[2])
            let bob = try await Self.client("bob_b", on: nodes[1])
            #expect(try await Self.eventually(within: .seconds(10)) {
                let carolOnline = try await online("carol")
                let bobOnline = try await online("bob_b")
                return carolOnline && bobOnline
            })

            // A chatroom delivers only to members online somewhere: Bob on node 1 gets what Alice sends on node 0.
            let created = try await restOn0.call("POST", "/v1/chatroom/", body: """
                {"owner_username":"alice","name":"lobby","members_username":["bob_b","carol"]}
                """)
            let room = String(try #require(created.json?["chatroom_id"]?.intValue))
            let alice = try await Self.client("alice", on: nodes[0])
            let sent = try await alice.send(.init(targetType: .chatroom, targetID: room, body: .text("live only")))
            #expect(try await Self.take(1, from: bob)[0].stored.msgID == sent.msgID)
            #expect(try await Self.take(1, from: carol)[0].stored.msgID == sent.msgID)

            // Node 2 dies: within 15 s the others no longer count Carol online.
            nodes[2].kill9()
            #expect(try await Self.eventually(within: .seconds(15)) { try await !online("carol") })
            #expect(try await online("bob_b"))
            for client in [alice, bob, carol] { client.close() }
        }
    }

    @Test func aNodeKilledMidBurstLosesNothingAcknowledgedAndItsClientsResumeElsewhereWithoutRepeats() async throws {
        try await Self.withNodes(3) { nodes in
            try await Self.register(["alice", "bob_b", "carol"], on: nodes[0])
            // Alice sends from node 0 to Bob, who reads on node 2; Carol sends from node 2 to Alice.
            let alice = try await Self.client("alice", on: nodes[0])
            let carol = try await Self.client("carol", on: nodes[2])
            let bob = try await Self.client("bob_b", on: nodes[2])

            let burst = 200
            // Bob acknowledges as he reads; what he acknowledged before the kill is where he resumes.
            let bobReader = Task { () -> [ServerFrame.Delivery] in
                var got: [ServerFrame.Delivery] = []
                for await delivery in bob.messages {
                    got.append(delivery)
                    bob.ack(delivery.seq)
                }
                return got
            }
            let aliceSends = Task {
                try await (0..<burst).asyncMap { i in
                    try await alice.send(.init(requestID: "a\(i)", targetID: "bob_b", body: .text("a\(i)"))).msgID
                }
            }
            let acknowledged = await CrashRecoveryTests.burst(burst, killing: nodes[2], after: burst / 3) { i in
                try? await carol.send(.init(requestID: "c\(i)", targetID: "alice", body: .text("c\(i)"))).msgID
            }
            carol.close()
            bob.close()
            let bobBefore = await bobReader.value
            let aliceSent = try await aliceSends.value

            // Carol reconnects to node 1 and resends everything with the same request ids.
            let carolAgain = try await Self.client("carol", on: nodes[1])
            var carolFinal: [Int64] = []
            for i in 0..<burst {
                let id = try await carolAgain.send(.init(requestID: "c\(i)", targetID: "alice", body: .text("c\(i)"))).msgID
                if let earlier = acknowledged[i] { #expect(id == earlier, "c\(i) was stored twice") }
                carolFinal.append(id)
            }
            let aliceGot = try await Self.take(burst, from: alice)
            #expect(aliceGot.map(\.stored.msgID) == carolFinal.sorted())
            #expect(aliceGot.map(\.seq) == Array(1...Int64(burst)))

            // Bob resumes on node 1 after the last entry he saw: the rest, none repeated.
            let resumeAfter = bobBefore.last?.seq ?? 0
            let bobAgain = try await Self.client("bob_b", on: nodes[1], since: resumeAfter)
            let rest = try await Self.take(burst - Int(resumeAfter), from: bobAgain)
            let all = bobBefore + rest
            #expect(all.map(\.seq) == Array(1...Int64(burst)))
            #expect(all.map(\.stored.msgID) == aliceSent)
            for client in [alice, carolAgain, bobAgain] { client.close() }
        }
    }
}

extension ClusterTests {
    /// A node's `bots.yaml`: the demo app, the echo bot, data under `dir`, the shared database at `url`. A login
    /// may take 5 minutes, as in ``CrashRecoveryTests/writeConfig(_:extra:)``: these tests are about nodes dying.
    static func writeConfigWithBot(_ dir: TemporaryDirectory, url: String, bot: String = "echo") throws -> String {
        let path = dir.path + "/bots.yaml"
        try """
            listen: { host: 127.0.0.1, port: 0 }
            data_dir: \(dir.path)/data
            log_level: info
            gateway: { login_timeout: 5m }
            apps:
              - appkey: \(Demo.appKey)
                master_secret: \(Demo.secret)
            bots:
              - name: \(bot)
                appkey: \(Demo.appKey)
                username: \(bot)_bot
                password: \(bot)-bot-secret
                plugins:
                  - swift: \(bot)
            storage:
              postgres:
                url: \(url)
                tls: disable

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func eachBotRunsOnOneNodeAndAnotherTakesItWhenItsNodeIsKilled() async throws {
        try await TestPostgres.withFreshDatabase { _, url in
            let dirs = try (0..<3).map { _ in try TemporaryDirectory() }
            let configs = try dirs.map { try Self.writeConfigWithBot($0, url: url) }
            // The first node is alone: it takes the bot's lease.
            let first = try await Node.start(configPath: configs[0])
            var nodes = [first]
            do {
                try await Self.register(["alice"], on: first)
                let early = try await Self.client("alice", on: first)
                _ = try await early.send(.init(targetID: "echo_bot", body: .text("ping")))
                let pong = try await Self.take(1, from: early)[0]
                #expect(pong.stored.message.fromID == "echo_bot" && pong.stored.message.body.text == "ping")
                early.close()
                nodes.append(try await Node.start(configPath: configs[1]))
                nodes.append(try await Node.start(configPath: configs[2]))

                // Alice on node 2; the bot on node 0 answers each ping once: no other node runs it.
                let alice = try await Self.client("alice", on: nodes[2], since: pong.seq)
                let replies = Mutex<[String]>([])
                let reader = Task {
                    for await delivery in alice.messages {
                        if let text = delivery.stored.message.body.text { replies.withLock { $0.append(text) } }
                    }
                }
                for i in 1...5 { _ = try await alice.send(.init(targetID: "echo_bot", body: .text("p\(i)"))) }
                #expect(await Self.eventually(within: .seconds(10)) { replies.withLock { $0.count >= 5 } })
                // A sentinel: any second copy of a reply would have come before its answer.
                _ = try await alice.send(.init(targetID: "echo_bot", body: .text("sentinel")))
                #expect(await Self.eventually(within: .seconds(10)) { replies.withLock { $0.contains("sentinel") } })
                #expect(replies.withLock { $0 } == ["p1", "p2", "p3", "p4", "p5", "sentinel"])

                // Node 0 dies in the middle of a burst of pings: another node takes the bot and answers every ping,
                // those the dead bot had taken but not answered too (a bot acknowledges an entry only once its
                // plugins have handled it and the replies are stored).
                var burst: [String] = []
                for i in 0..<20 {
                    let text = "b\(i)"
                    _ = try await alice.send(.init(targetID: "echo_bot", body: .text(text)))
                    burst.append(text)
                    if i == 9 { first.kill9() }
                }
                #expect(await Self.eventually(within: .seconds(10)) {
                    Set(replies.withLock { $0 }).isSuperset(of: burst)
                }, "replies: \(replies.withLock { $0 })")
                alice.close()
                reader.cancel()
            } catch {
                for node in nodes where node.process.isRunning { node.stop() }
                throw error
            }
            for node in nodes where node.process.isRunning { node.stop() }
            withExtendedLifetime(dirs) {}
        }
    }

    @Test func aReminderDueDuringAFailoverFiresOnceOnTheNodeThatTookTheBot() async throws {
        try await TestPostgres.withFreshDatabase { _, url in
            let dirs = try (0..<2).map { _ in try TemporaryDirectory() }
            let configs = try dirs.map { try Self.writeConfigWithBot($0, url: url, bot: "reminder") }
            let first = try await Node.start(configPath: configs[0])
            var nodes = [first]
            do {
                try await Self.register(["alice"], on: first)
                // Alice talks to the bot from node 0 while it is the only node, so node 0 runs the bot.
                let alice = try await Self.client("alice", on: first)
                let texts = Mutex<[String]>([])
                let reader = Task {
                    for await delivery in alice.messages {
                        if let text = delivery.stored.message.body.text { texts.withLock { $0.append(text) } }
                    }
                }
                _ = try await alice.send(.init(targetID: "reminder_bot", body: .text("/remind 1m failover")))
                #expect(await Self.eventually(within: .seconds(20)) {
                    texts.withLock { $0.contains { $0.hasPrefix("ok, I will remind you") } }
                }, "\(texts.withLock { $0 })")
                nodes.append(try await Node.start(configPath: configs[1]))
                // Node 0 dies before the reminder is due; node 1 takes the bot and fires it, once.
                first.kill9()
                alice.close()
                reader.cancel()
                let again = try await Self.client("alice", on: nodes[1])
                let after = Mutex<[String]>([])
                let readerAgain = Task {
                    for await delivery in again.messages {
                        if let text = delivery.stored.message.body.text { after.withLock { $0.append(text) } }
                    }
                }
                #expect(await Self.eventually(within: .seconds(150)) { after.withLock { $0.contains("⏰ failover") } },
                        "\(after.withLock { $0 })")
                _ = try await again.send(.init(targetID: "reminder_bot", body: .text("/reminders")))
                #expect(await Self.eventually(within: .seconds(20)) { after.withLock { $0.contains("no pending reminders") } })
                #expect(after.withLock { $0 }.filter { $0 == "⏰ failover" }.count == 1, "\(after.withLock { $0 })")
                again.close()
                readerAgain.cancel()
            } catch {
                for node in nodes where node.process.isRunning { node.stop() }
                throw error
            }
            for node in nodes where node.process.isRunning { node.stop() }
            withExtendedLifetime(dirs) {}
        }
    }
}

extension Sequence where Element: Sendable {
    /// `transform` applied to each element in order, one at a time.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
