import Foundation
import IMClient
import IMProtocol
import Testing
import MynahTesting

/// A bot's daemon killed with SIGKILL while a plugin handles a message: the message was not acknowledged, so the
/// restarted daemon hands it to the bot again and the user gets the answer (at least once across crashes).
@Suite struct BotCrashTests {
    /// An external plugin that, the first time it sees `ping`, writes `marker` and waits for its daemon to die
    /// without answering; afterwards it answers `pong`.
    static func plugin(marker: String) -> String {
        """
        import json, os, sys, time
        def send(m):
            sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
        init = sys.stdin.readline()
        send({"type": "hello", "name": "slow"})
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("type") != "event":
                continue
            event = request["event"]
            actions = []
            if event.get("type") == "message" and event.get("text") == "ping":
                if not os.path.exists(\(String(reflecting: marker))):
                    open(\(String(reflecting: marker)), "w").close()
                    parent = os.getppid()
                    while os.getppid() == parent:  # until the daemon is killed
                        time.sleep(0.05)
                    sys.exit(0)
                actions.append({"type": "reply", "text": "pong"})
            send({"type": "actions", "id": request["id"], "actions": actions})
        """
    }

    @Test func aMessageInHandWhenTheDaemonDiesIsHandledAfterTheRestart() async throws {
        let dir = try TemporaryDirectory()
        let marker = dir.path + "/handling"
        let script = dir.path + "/slow.py"
        try Self.plugin(marker: marker).write(toFile: script, atomically: true, encoding: .utf8)
        let config = dir.path + "/bots.yaml"
        try """
            listen: { host: 127.0.0.1, port: 0 }
            data_dir: \(dir.path)/data
            # The test is about a crash, not login speed: a child daemon of a suite started all at once on two cores
            # once took over 10 s to read a login frame.
            gateway: { login_timeout: 5m }
            apps:
              - appkey: \(Demo.appKey)
                master_secret: \(Demo.secret)
            bots:
              - name: slow
                appkey: \(Demo.appKey)
                username: slow_bot
                password: slow-bot-pass
                plugins:
                  - exec: [python3, \(script)]
                    timeout: 1h
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let first = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
        let registered = try await REST(port: first.port).call("POST", "/v1/users/", body: """
            [{"username":"alice","password":"alice-pass"}]
            """)
        #expect(registered.status == 201)
        let alice = TestUser(client: try await Demo.client(port: first.port, username: "alice", password: "alice-pass"),
                             username: "alice", appKey: Demo.appKey)
        _ = try await alice.send("ping", to: "slow_bot")
        // The plugin has the message in hand once the marker exists (polled, with a deadline).
        let deadline = ContinuousClock.now + TestUser.defaultDeadline
        while !FileManager.default.fileExists(atPath: marker) {
            try #require(ContinuousClock.now < deadline, "the plugin never received the message")
            try await Task.sleep(for: .milliseconds(20))
        }
        first.kill9()
        alice.client.close()

        let second = try await CrashRecoveryTests.DaemonProcess.start(configPath: config)
        defer { second.stop() }
        let again = TestUser(client: try await Demo.client(port: second.port, username: "alice", password: "alice-pass"),
                             username: "alice", appKey: Demo.appKey)
        // Before, the bot acknowledged the message as it queued it for the plugin: the restart never saw it again.
        #expect(try await again.next() == "pong")
    }
}
