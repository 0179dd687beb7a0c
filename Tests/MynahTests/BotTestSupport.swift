import BotKit
import Foundation
import Hub
import IMClient
import IMProtocol
import MynahTesting
import Testing
@testable import Mynah

extension Demo {
    /// The demo configuration's echo bot replaced by `bot` (other apps and bots may be added by `configure`).
    static func bot(_ name: String = "helper", username: String = "helper_bot", plugins: [MynahConfiguration.Plugin],
                    options: MynahConfiguration.BotOptions = .init()) -> MynahConfiguration.Bot {
        var bot = MynahConfiguration.Bot(name: name, appKey: appKey, username: username, password: "helper-secret",
                                         nickname: "Helper", plugins: plugins)
        bot.options = options
        return bot
    }

    /// A plugin entry of any kind with its options.
    static func plugin(_ swift: String = "", config: JSONValue = [:], options: MynahConfiguration.PluginOptions = .init())
        -> MynahConfiguration.Plugin {
        var plugin = MynahConfiguration.Plugin(swift: swift, config: config)
        plugin.options = options
        return plugin
    }

    /// An `exec:` entry running a Python script with fast restarts.
    static func python(_ script: String, id: String? = nil, config: JSONValue = [:], timeout: Duration = .seconds(10),
                       quarantineAfter: Int = 5) -> MynahConfiguration.Plugin {
        plugin(config: config, options: .init(
            id: id, timeout: timeout,
            exec: .init(command: ["python3", script], backoff: .milliseconds(10), maxBackoff: .milliseconds(100),
                        quarantineAfter: quarantineAfter)))
    }

    /// The repository's root directory.
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A user registered in another configured app, logged in with `<username>-pass`.
    static func user(_ daemon: Daemon, port: Int, _ username: String, appKey: String) async throws -> IMClient {
        _ = try await daemon.hub.register(appKey: appKey, NewUser(username: username, password: "\(username)-pass"),
                                          kind: .user)
        return try await IMClient.connect(.init(url: "ws://127.0.0.1:\(port)/gateway", appKey: appKey,
                                                username: username, password: "\(username)-pass")).client
    }

    /// A registered and logged-in user of the demo app.
    static func user(_ daemon: Daemon, port: Int, _ username: String) async throws -> IMClient {
        try await register(daemon, username, password: "\(username)-pass")
        return try await client(port: port, username: username, password: "\(username)-pass")
    }
}

/// A client's deliveries read one at a time, each acknowledged and awaited with a deadline: the test kit's
/// ``TestUser`` (`MynahTesting`).
typealias Inbox = TestUser

extension TestUser {
    /// Wraps a client of the demo app logged in by hand.
    convenience init(_ client: IMClient) {
        self.init(client: client, username: "user", appKey: Demo.appKey)
    }

    /// Sends a text to `to` and returns the next text that arrives.
    func ask(_ to: String, _ text: String) async throws -> String {
        try await ask(text, to: to)
    }
}
