import Bridge
import Hub
import Foundation
import IMClient
import IMProtocol
import Testing
import MynahTesting
@testable import Mynah

/// JPush receipt callbacks of bridged pushes (`callback: {url, params, type}`), reported to a receiver on loopback;
/// each test runs on SQLite and on PostgreSQL (`MYNAH_TEST_POSTGRES_URL`).
@Suite struct ReceiptCallbackTests {
    @Test(arguments: ScheduleClaimTests.backends)
    func acceptedAndDeliveredAreReportedWithTheirParams(backend: String) async throws {
        try await ScheduleClaimTests.onBackend(backend) { storage, _ in
            let receiver = RoutingReceiver()
            try await receiver.run { rport in
                try await Demo.withDaemon(configure: { BridgeDemo.configure(&$0); storage(&$0) }) { daemon, port in
                    let log = ReceivedLog(receiver)
                    try await Demo.register(daemon, "alice", password: "alice-pass")
                    try await Demo.register(daemon, "bob_b", password: "bob-pass")
                    try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
                    guard case .object(var push) = BridgeDemo.alert("your order shipped", aliases: ["uid_alice"]) else { return }
                    push["callback"] = ["url": .string("http://127.0.0.1:\(rport)/hook"), "params": ["order": "42"], "type": 9]
                    let msgID = try await BridgeDemo.push(port, .object(push))

                    let accepted = try JSONValue.parse(try await log.next().body)
                    #expect(accepted["type"]?.intValue == 8)
                    #expect(accepted["msg_id"]?.stringValue == String(msgID))
                    #expect(accepted["params"] == ["order": "42"])
                    #expect(accepted["id"]?.stringValue == "receipt:\(msgID):8")

                    // Alice logs in and acknowledges the bridged message: "delivered" follows.
                    let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
                    let delivery = try await alice.messages.first()
                    #expect(delivery.stored.message.body.text == "your order shipped")
                    try await BridgeDemo.acknowledge(alice, delivery.seq, to: "bob_b")
                    let request = try await log.next()
                    let delivered = try JSONValue.parse(request.body)
                    alice.close()
                    #expect(request.authorization == Demo.basic)
                    #expect(delivered["type"]?.intValue == 1)
                    #expect(delivered["msg_id"]?.stringValue == String(msgID))
                    #expect(delivered["username"]?.stringValue == "alice" && delivered["alias"]?.stringValue == "uid_alice")
                    #expect(delivered["params"] == ["order": "42"])
                    let aliceID = try await daemon.hub.user(appKey: Demo.appKey, username: "alice").id
                    #expect(delivered["id"]?.stringValue == "receipt:\(msgID):1:\(aliceID)")
                }
            }
        }
    }

    static func withCallback(_ push: JSONValue, url: String, type: Int) -> JSONValue {
        guard case .object(var o) = push else { return push }
        o["callback"] = ["url": .string(url), "params": ["order": "42"], "type": .int(Int64(type))]
        return .object(o)
    }

    @Test(arguments: ScheduleClaimTests.backends)
    func reportsThatKeepFailingBecomeDeadLettersShownInMetricsAndReplayed(backend: String) async throws {
        try await ScheduleClaimTests.onBackend(backend) { storage, _ in
            // The first report (accepted) is refused twice and buried; later ones go through.
            let receiver = RoutingReceiver(script: [.fail, .fail], then: .ok)
            try await receiver.run { rport in
                try await Demo.withDaemon(configure: { c in
                    BridgeDemo.configure(&c)
                    storage(&c)
                    c.bridge.receiptCallbacks.backoff = .milliseconds(10)
                    c.bridge.receiptCallbacks.maxBackoff = .milliseconds(20)
                    c.bridge.receiptCallbacks.deadAfter = 2
                }) { daemon, port in
                    let log = ReceivedLog(receiver)
                    try await Demo.register(daemon, "alice", password: "alice-pass")
                    try await Demo.register(daemon, "bob_b", password: "bob-pass")
                    try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
                    let msgID = try await BridgeDemo.push(port, Self.withCallback(
                        BridgeDemo.alert("your order shipped", aliases: ["uid_alice"]), url: "http://127.0.0.1:\(rport)/hook", type: 9))
                    for _ in 0..<2 {
                        let refused = try await log.next()
                        let body = try JSONValue.parse(refused.body)
                        #expect(refused.answer == .fail && body["type"]?.intValue == 8)
                    }
                    // The push's next report goes on (so the first was set aside before it).
                    let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
                    let delivery = try await alice.messages.first()
                    try await BridgeDemo.acknowledge(alice, delivery.seq, to: "bob_b")
                    let delivered = try await log.next()
                    alice.close()
                    let deliveredBody = try JSONValue.parse(delivered.body)
                    #expect(delivered.answer == .ok && deliveredBody["type"]?.intValue == 1)

                    let dataDirectory = daemon.configuration.dataDirectory
                    let location = try DeadLetters.location(of: daemon.configuration, in: dataDirectory)
                    let letters = try await DeadLetters.list(configuration: daemon.configuration)
                    #expect(letters.count == 1)
                    let letter = try #require(letters.first)
                    #expect(letter.kind == "receipt" && letter.firstMsgID == msgID && letter.attempts == 2)
                    #expect(letter.url == "http://127.0.0.1:\(rport)/hook" && letter.lastError == "HTTP 500")
                    #expect(try await MetricsTests.scrape(port).samples["mynah_receipt_callback_dead_letters"] == 1)

                    let listed = try await CommandLineTests.run(["callbacks", "list"] + location, in: dataDirectory)
                    #expect(listed.status == 0 && listed.stdout.contains("receipt of push \(msgID)"), "\(listed)")
                    let replay = try await CommandLineTests.run(["callbacks", "replay", "--id", String(letter.id)] + location,
                                                                in: dataDirectory)
                    #expect(replay.status == 0 && replay.stdout.contains("1 dead letters marked for replay"), "\(replay)")
                    // The running daemon sends it again, unchanged, with the app's credentials.
                    let again = try await log.next()
                    #expect(again.answer == .ok && again.authorization == Demo.basic)
                    let body = try JSONValue.parse(again.body)
                    #expect(body["type"]?.intValue == 8 && body["msg_id"]?.stringValue == String(msgID))
                    #expect(body["params"] == ["order": "42"])
                    // The dispatcher records a replay before it looks at new pushes: once a later report is in, it is gone.
                    let later = try await BridgeDemo.push(port, Self.withCallback(
                        BridgeDemo.alert("later", aliases: ["uid_alice"]), url: "http://127.0.0.1:\(rport)/hook", type: 8))
                    let laterBody = try JSONValue.parse(try await log.next().body)
                    #expect(laterBody["msg_id"]?.stringValue == String(later))
                    #expect(try await DeadLetters.list(configuration: daemon.configuration).isEmpty)
                    #expect(try await MetricsTests.scrape(port).samples["mynah_receipt_callback_dead_letters"] == 0)
                }
            }
        }
    }

    /// On PostgreSQL the restarted node is another node (another claim owner): it takes the dead one's claims over
    /// once they lapse (`lease`).
    @Test(arguments: ScheduleClaimTests.backends)
    func aReportDueWhenTheDaemonIsKilledWithSIGKILLGoesOutAfterTheRestart(backend: String) async throws {
        try await Self.onBackendURL(backend) { storage in
            let receiver = RoutingReceiver(then: .fail)
            try await receiver.run { rport in
                let dir = try TemporaryDirectory()
                let config = try CrashRecoveryTests.writeConfig(dir, extra: storage + """
                    bridge:
                      receipt_callbacks: { retry: { backoff: 10ms, max_backoff: 50ms }, dead_after: 1000, timeout: 1s, lease: 2s }
                      rules:
                        - name: demo
                          push_appkey: \(Demo.appKey)
                          alias: "uid_{username}"
                          robot: notify_bot
                    """)
                let log = ReceivedLog(receiver)
                let first = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
                let registered = try await REST(port: first.port).call("POST", "/v1/users/", body: """
                    [{"username":"alice","password":"alice-pass"}]
                    """)
                #expect(registered.status == 201)
                var pushes: [Int64] = []
                for i in 0..<3 {
                    pushes.append(try await BridgeDemo.push(first.port, Self.withCallback(
                        BridgeDemo.alert("p\(i)", aliases: ["uid_alice"]), url: "http://127.0.0.1:\(rport)/hook", type: 8)))
                }
                // Refused at least once, then the daemon dies.
                #expect(try await log.next().answer == .fail)
                first.kill9()

                receiver.answer(.ok)
                let second = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
                defer { second.stop() }
                var reported = Set<String>()
                while !Set(pushes.map(String.init)).isSubset(of: reported) {
                    let request = try await log.next()
                    guard request.answer == .ok else { continue }
                    let body = try JSONValue.parse(request.body)
                    #expect(body["type"]?.intValue == 8 && body["params"] == ["order": "42"])
                    reported.insert(body["msg_id"]?.stringValue ?? "")
                }
                #expect(reported == Set(pushes.map(String.init)))
                withExtendedLifetime(dir) {}
            }
        }
    }

    /// Runs `body` with the `storage:` section of a child daemon's configuration: none (SQLite), or a fresh database.
    static func onBackendURL(_ backend: String, _ body: (String) async throws -> Void) async throws {
        guard backend == "postgres" else { return try await body("") }
        try await TestPostgres.withFreshDatabase { _, url in
            try await body("""
                storage:
                  postgres:
                    url: \(url)
                    tls: disable

                """)
        }
    }

    @Test(arguments: [
        (#"{"url":"ftp://x"}"#, "callback.url"),
        (#"{"url":"http://x/h","type":4}"#, "callback.type"),
        (#"{"url":"http://x/h","params":[1]}"#, "callback.params"),
        (#"{"url":"http://x/h","extra":1}"#, "callback.extra"),
    ])
    func badCallbacksAreRefusedNamingTheirField(callback: String, field: String) throws {
        #expect(throws: BridgeError.self) { try ReceiptCallback.read(try JSONValue.parse(callback)) }
        do {
            _ = try ReceiptCallback.read(try JSONValue.parse(callback))
        } catch let error as BridgeError {
            #expect("\(error)".contains(field), "\(error)")
        }
    }
}
