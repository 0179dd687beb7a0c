import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import Testing
import MynahTesting
@testable import Mynah

/// Reloading `bots.yaml` in place (SIGHUP, `mynah reload`) and bots on a remote hub.
@Suite struct BotReloadTests {
    static func file(prefix: String, extraBot: String = "") -> String {
        """
        listen: { host: 127.0.0.1, port: 0 }
        apps:
          - appkey: \(Demo.appKey)
            master_secret: \(Demo.secret)
        bots:
          - name: echo
            appkey: \(Demo.appKey)
            username: echo_bot
            password: echo-bot-secret
            plugins:
              - swift: echo
                config: { prefix: "\(prefix)" }
        \(extraBot)
        """
    }

    @Test func aGoodFileIsAppliedAndABadOneLeavesTheRunningBots() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bots.yaml"
        try Self.file(prefix: "a: ").write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = try ConfigurationLoader.load(path: path)
        configuration.dataDirectory = dir.path
        var options = Daemon.Options(passwordCost: 4)
        options.configurationPath = path
        var logger = Logger(label: "mynah.test")
        logger.logLevel = .critical
        let daemon = try await Daemon(configuration: configuration, options: options, logger: logger)
        try await daemon.withRunning { port in
            let alice = Inbox(try await Demo.user(daemon, port: port, "alice"))
            #expect(try await alice.ask("echo_bot", "x") == "a: x")

            let second = """
                  - name: shouter
                    appkey: \(Demo.appKey)
                    username: second_bot
                    password: second-secret
                    plugins:
                      - swift: echo
                        config: { prefix: "2: " }
                """
            try Self.file(prefix: "b: ", extraBot: second).write(toFile: path, atomically: true, encoding: .utf8)
            let good = await daemon.reload()
            #expect((try? good.get()) != nil)
            #expect(try await alice.ask("echo_bot", "y") == "b: y")
            #expect(try await alice.ask("second_bot", "z") == "2: z")

            try Self.file(prefix: "c: ").replacingOccurrences(of: "swift: echo", with: "swift: ech0")
                .write(toFile: path, atomically: true, encoding: .utf8)
            guard case .failure(let error) = await daemon.reload() else {
                Issue.record("a bad file was applied")
                return
            }
            #expect(error.description.hasPrefix("\(path):11:9: bots[0].plugins[0].swift: unknown plugin 'ech0'"))
            #expect(try await alice.ask("echo_bot", "still") == "b: still")
            #expect(try await alice.ask("second_bot", "still") == "2: still")
        }
        withExtendedLifetime(dir) {}
    }

    @Test func aBotOnARemoteHubRunsItsPluginsUnchanged() async throws {
        try await Demo.withDaemon(configure: { $0.bots = [] }) { hubDaemon, hubPort in
            _ = try await hubDaemon.hub.ensureRobot(appKey: Demo.appKey,
                                                    NewUser(username: "far_bot", password: "far-bot-secret"))
            let remote = try TemporaryDirectory()
            var bot = Demo.bot("far", username: "far_bot", plugins: [Demo.plugin("echo", config: ["prefix": "far: "])])
            bot.password = "far-bot-secret"
            bot.options.hubURL = "ws://127.0.0.1:\(hubPort)/gateway"
            let configuration = MynahConfiguration(listen: .init(host: "127.0.0.1", port: 0),
                                                   dataDirectory: remote.path, apps: [], bots: [bot])
            var logger = Logger(label: "mynah.test")
            logger.logLevel = .critical
            let botDaemon = try await Daemon(configuration: configuration, options: .init(passwordCost: 4), logger: logger)
            try await botDaemon.withRunning { _ in
                let alice = Inbox(try await Demo.user(hubDaemon, port: hubPort, "alice"))
                #expect(try await alice.ask("far_bot", "hello") == "far: hello")
            }
            withExtendedLifetime(remote) {}
        }
    }
}
