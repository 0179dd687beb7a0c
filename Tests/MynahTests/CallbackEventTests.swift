import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import Testing
import MynahTesting
@testable import Mynah

/// Gateway events in message routing (`events:` of a callback) and callbacks changed by a reload, against receivers
/// on loopback.
@Suite struct CallbackEventTests {
    static func hook(_ port: Int, _ name: String) -> String { "http://127.0.0.1:\(port)/hook?\(name)" }

    /// Reads requests until each URI in `counts` has that many items accepted; the items per URI, repeats removed.
    static func items(_ log: ReceivedLog, counts: [String: Int]) async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        var seen: [String: Set<String>] = [:]
        func take(_ request: RoutingReceiver.Request) {
            guard request.answer == .ok else { return }
            for item in request.items where seen[request.uri, default: []].insert(item).inserted {
                result[request.uri, default: []].append(item)
            }
        }
        log.all.forEach(take)
        while counts.contains(where: { (result[$0.key]?.count ?? 0) < $0.value }) { take(try await log.next()) }
        return result
    }

    /// `e<id>:<kind>` as `e:<kind>`, for comparing sequences.
    static func shape(_ items: [String]) -> [String] {
        items.map { $0.hasPrefix("e") ? "e:" + $0.split(separator: ":", maxSplits: 1)[1] : $0 }
    }

    @Test func gatewayEventsGoInOrderWithTheMessagesOfTheirConversationFilteredPerCallback() async throws {
        let receiver = RoutingReceiver()
        try await receiver.run { rport in
            try await Demo.withDaemon(configure: { c in
                c.bots = []
                var all = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(rport, "all"),
                                                      batchWait: .milliseconds(20))
                all.events = .all
                var members = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(rport, "members"),
                                                          conversations: [.group], batchWait: .milliseconds(20))
                members.events = .kinds([.groupMembersAdded])
                let plain = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(rport, "plain"),
                                                        batchWait: .milliseconds(20))
                c.callbacks = [all, members, plain]
            }) { daemon, port in
                let log = ReceivedLog(receiver)
                let rest = REST(port: port)
                let alice = try await Demo.user(daemon, port: port, "alice")
                try await Demo.register(daemon, "bob_b", password: "bob-pass")
                try await Demo.register(daemon, "carol", password: "carol-pass")
                let created = try await rest.call("POST", "/v1/groups/", body: """
                    {"owner_username":"alice","name":"g","members_username":["bob_b"]}
                    """)
                let gid = try #require(created.json?["gid"]?.intValue)
                let m1 = try await alice.send(.init(targetType: .group, targetID: String(gid), body: .text("one"))).msgID
                #expect(try await rest.call("POST", "/v1/groups/\(gid)/members", body: #"{"add":["carol"]}"#).status < 300)
                let m2 = try await alice.send(.init(targetType: .group, targetID: String(gid), body: .text("two"))).msgID
                #expect(try await rest.call("POST", "/v1/messages/alice/\(m2)/retract").status < 300)
                #expect(try await rest.call("POST", "/v1/users/alice/friends", body: #"["bob_b"]"#).status < 300)
                let m3 = try await alice.send(.init(targetID: "bob_b", body: .text("three"))).msgID
                alice.close()

                let got = try await Self.items(log, counts: ["/hook?all": 8, "/hook?members": 3, "/hook?plain": 3])
                let all = try #require(got["/hook?all"])
                #expect(Self.shape(all) == ["e:group_created", "m\(m1)", "e:group_members_added", "m\(m2)",
                                            "e:message_retracted", "e:friend_added", "e:friend_added", "m\(m3)"])
                let eventIDs = all.filter { $0.hasPrefix("e") }.compactMap { Int64($0.dropFirst().prefix { $0 != ":" }) }
                #expect(eventIDs == eventIDs.sorted() && Set(eventIDs).count == eventIDs.count)
                #expect(Self.shape(got["/hook?members"] ?? []) == ["m\(m1)", "e:group_members_added", "m\(m2)"])
                #expect(got["/hook?plain"] == ["m\(m1)", "m\(m2)", "m\(m3)"])

                // The documented shape of an events batch: JMessage's envelope, no messages, the events in order.
                let batches = log.all.filter { $0.uri == "/hook?all" && $0.answer == .ok && $0.msgIDs.isEmpty }
                #expect(batches.allSatisfy { $0.authorization == Demo.basic && $0.total == 0 })
                #expect(batches.allSatisfy { $0.delivery?.hasPrefix("events-") == true })
                let events = batches.flatMap { (try? JSONValue.parse($0.body))?["events"]?.arrayValue ?? [] }
                let added = try #require(events.first { $0["kind"]?.stringValue == "group_members_added" })
                #expect(added["target_type"]?.stringValue == "group" && added["target_id"]?.stringValue == String(gid))
                #expect(added["gid"]?.intValue == gid && added["usernames"] == ["carol"])
                #expect(added["appkey"]?.stringValue == Demo.appKey && added["after_msgid"]?.intValue == m1)
                #expect(added["ctime"]?.intValue != nil && added["event_id"]?.intValue != nil)
                let retracted = try #require(events.first { $0["kind"]?.stringValue == "message_retracted" })
                #expect(retracted["msg_id"]?.intValue == m2 && retracted["by"]?.stringValue == "alice")
                #expect(retracted["target_type"]?.stringValue == "group")
                let friends = events.filter { $0["kind"]?.stringValue == "friend_added" }
                #expect(Set(friends.compactMap { $0["target_id"]?.stringValue }) == ["alice", "bob_b"])
                #expect(friends.allSatisfy { $0["target_type"]?.stringValue == "single" })
            }
        }
    }

    /// The JSON bodies of the ```http examples in docs/callbacks.md, in order.
    static func documentedBodies() throws -> [JSONValue] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/callbacks.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        return try text.components(separatedBy: "```http\n").dropFirst().map { block in
            let example = block.components(separatedBy: "\n```")[0]
            let body = try #require(example.range(of: "\n\n")).upperBound
            return try JSONValue.parse(Array(example[body...].utf8))
        }
    }

    @Test func theDocumentedExamplesAreWhatTheDaemonSends() throws {
        let bodies = try Self.documentedBodies()
        #expect(bodies.count == 2)
        let messages = try RoutingFormat.parse(bodies[0].serialized())
        #expect(messages.count == 1 && messages[0].message.body.text == "hello")
        let events = try #require(bodies[1]["events"]?.arrayValue)
        #expect(bodies[1]["total"]?.intValue == 0 && bodies[1]["messages"]?.arrayValue?.isEmpty == true)
        #expect(events.count == 2)
        for item in events {
            // What the daemon would send for the same event has the same keys and values.
            let event = try ChatEvent(json: item)
            let logged = LoggedEvent(
                id: try #require(item["event_id"]?.intValue), afterMsgID: try #require(item["after_msgid"]?.intValue),
                targetType: try #require(item["target_type"]?.stringValue.flatMap(TargetType.init(rawValue:))),
                targetID: try #require(item["target_id"]?.stringValue), appKeys: [event.appKey], event: event)
            #expect(RoutingFormat.event(logged) == item)
            #expect(MynahConfiguration.Callback.EventFilter.known.contains(event.kind))
        }
    }

    @Test func aReloadedFileAddsCallbacksToADaemonThatStartedWithNone() async throws {
        let receiver = RoutingReceiver()
        try await receiver.run { rport in
            let dir = try TemporaryDirectory()
            let path = dir.path + "/bots.yaml"
            let file = """
                listen: { host: 127.0.0.1, port: 0 }
                data_dir: \(dir.path)/data
                apps:
                  - appkey: \(Demo.appKey)
                    master_secret: \(Demo.secret)

                """
            try file.write(toFile: path, atomically: true, encoding: .utf8)
            var options = Daemon.Options(passwordCost: 4)
            options.configurationPath = path
            var logger = Logger(label: "mynah.test")
            logger.logLevel = .critical
            let daemon = try await Daemon(configuration: try ConfigurationLoader.load(path: path), options: options,
                                          logger: logger)
            try await daemon.withRunning { port in
                let log = ReceivedLog(receiver)
                let alice = try await Demo.user(daemon, port: port, "alice")
                try await Demo.register(daemon, "bob_b", password: "bob-pass")
                let before = try await alice.send(.init(targetID: "bob_b", body: .text("before"))).msgID
                try (file + """
                        callbacks:
                          - url: \(Self.hook(rport, "new"))
                            batch: { wait: 20ms }

                    """).write(toFile: path, atomically: true, encoding: .utf8)
                #expect((try? await daemon.reload().get()) != nil)
                let after = try await alice.send(.init(targetID: "bob_b", body: .text("after"))).msgID
                alice.close()
                // A new callback starts at the log's end: what was sent before the reload is not routed.
                #expect(try await log.accepted(until: [after]) == [after])
                #expect(before < after)
            }
            withExtendedLifetime(dir) {}
        }
    }

    @Test func aReloadChangesAddsAndRemovesCallbacksWithoutLosingWhatWaits() async throws {
        let failing = RoutingReceiver(then: .fail)
        let other = RoutingReceiver()
        try await failing.run { aport in
            try await other.run { oport in
                let a = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(aport, "a"),
                                                    backoff: .milliseconds(10), maxBackoff: .milliseconds(20),
                                                    deadAfter: 1000, batchWait: .milliseconds(20))
                let b = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(oport, "b"),
                                                    batchWait: .milliseconds(20))
                try await Demo.withDaemon(configure: { c in
                    c.bots = []
                    c.callbacks = [a, b]
                }) { daemon, port in
                    let aLog = ReceivedLog(failing), oLog = ReceivedLog(other)
                    let alice = try await Demo.user(daemon, port: port, "alice")
                    try await Demo.register(daemon, "bob_b", password: "bob-pass")
                    var sent: [Int64] = []
                    for i in 0..<5 { sent.append(try await alice.send(.init(targetID: "bob_b", body: .text("m\(i)"))).msgID) }
                    _ = try await oLog.accepted(until: Set(sent))
                    _ = try await aLog.next()   // a refused at least once: its messages wait

                    // a changes (a secret, batches of 2), b goes, c comes.
                    var changed = a
                    changed.secret = "new-secret"
                    changed.batchMax = 2
                    let c = MynahConfiguration.Callback(appKey: Demo.appKey, url: Self.hook(oport, "c"),
                                                        batchWait: .milliseconds(20))
                    var next = daemon.configuration
                    next.callbacks = [changed, c]
                    try await daemon.apply(next)
                    // apply returns once b's loop is over: nothing reaches b any more.
                    let bRequests = oLog.all.count
                    failing.answer(.ok)
                    let last = try await alice.send(.init(targetID: "bob_b", body: .text("after the reload"))).msgID
                    alice.close()

                    // Nothing that waited for a is lost, and it now goes with a's new settings.
                    let ids = try await aLog.accepted(until: Set(sent + [last]))
                    #expect(ids.firstOccurrences == sent + [last])
                    // A request of a's old loop still on the wire when the reload cancelled that loop may be answered
                    // 200 after the switch: unsigned, holding only what waited before the reload. The daemon never
                    // saw that answer, so the new loop sends all of it again, signed, in batches of 2.
                    #expect(aLog.all.filter { $0.answer == .ok && $0.signature == nil }
                        .allSatisfy { Set($0.msgIDs).isSubset(of: Set(sent)) })
                    var signed = Set(aLog.all.filter { $0.answer == .ok && $0.signature != nil }.flatMap(\.msgIDs))
                    while !Set(sent + [last]).isSubset(of: signed) {
                        let request = try await aLog.next()
                        if request.answer == .ok, request.signature != nil { signed.formUnion(request.msgIDs) }
                    }
                    #expect(aLog.all.filter { $0.signature != nil }.allSatisfy { $0.msgIDs.count <= 2 })
                    // c starts at the log's end: only what was sent after the reload.
                    #expect(try await oLog.accepted(until: [last]).filter { $0 >= last } == [last])
                    #expect(oLog.all.dropFirst(bRequests).allSatisfy { $0.uri == "/hook?c" })
                    #expect(oLog.all.dropFirst(bRequests).flatMap(\.msgIDs) == [last])
                    #expect(daemon.routing.dispatcher?.callbacks.map(\.url).sorted() == [changed.url, c.url].sorted())

                    // An unknown app is refused before anything changes.
                    var bad = next
                    bad.callbacks.append(.init(appKey: "no_such_app_key_0000000", url: Self.hook(oport, "x")))
                    await #expect(throws: ConfigurationError.self) { try await daemon.apply(bad) }
                    #expect(daemon.routing.dispatcher?.callbacks.count == 2)
                }
            }
        }
    }
}
