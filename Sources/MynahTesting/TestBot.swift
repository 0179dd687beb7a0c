import BotKit
import Mynah

/// One plugin of a ``TestBot``: a Swift plugin type of the test's own (or a built-in one by name), or an external
/// program, with its `config` block as `bots.yaml` would give it.
public struct TestPlugin: Sendable {
    /// The plugin's entry as the daemon's configuration holds it.
    public var entry: MynahConfiguration.Plugin
    /// The Swift plugin type to register with the daemon, when it is not built in.
    public var type: (any Plugin.Type)?

    /// Creates a plugin from its configuration entry and, when not built in, its Swift type.
    public init(entry: MynahConfiguration.Plugin, type: (any Plugin.Type)? = nil) {
        self.entry = entry
        self.type = type
    }

    /// A Swift plugin of the test's own: `swift: <pluginName>` with `config`, registered with the daemon.
    public static func swift<P: Plugin>(_ type: P.Type, config: JSONValue = [:], id: String? = nil,
                                        timeout: Duration = .seconds(10)) -> TestPlugin {
        var entry = MynahConfiguration.Plugin(swift: type.pluginName, config: config)
        entry.options = .init(id: id, timeout: timeout)
        return TestPlugin(entry: entry, type: type)
    }

    /// A plugin built into Mynah (`echo`, `commands`, `relay`, `reminder`) by its `swift:` name.
    public static func builtIn(_ name: String, config: JSONValue = [:], id: String? = nil,
                               timeout: Duration = .seconds(10)) -> TestPlugin {
        var entry = MynahConfiguration.Plugin(swift: name, config: config)
        entry.options = .init(id: id, timeout: timeout)
        return TestPlugin(entry: entry)
    }

    /// An external program speaking the JSON lines protocol (`exec:`), restarted quickly when it fails.
    public static func exec(_ command: [String], config: JSONValue = [:], id: String? = nil,
                            timeout: Duration = .seconds(10), quarantineAfter: Int = 5) -> TestPlugin {
        var entry = MynahConfiguration.Plugin(swift: "", config: config)
        entry.options = .init(id: id, timeout: timeout,
                              exec: .init(command: command, backoff: .milliseconds(10), maxBackoff: .milliseconds(100),
                                          quarantineAfter: quarantineAfter))
        return TestPlugin(entry: entry)
    }
}

/// A bot of a ``TestHub``: a robot account of the hub's app (``TestHub/appKey`` unless told otherwise) that runs
/// its plugins in the daemon, exactly as a `bots:` entry of `bots.yaml` would.
public struct TestBot: Sendable {
    /// The bot's entry as the daemon's configuration holds it.
    public var spec: MynahConfiguration.Bot
    /// The Swift plugin types its plugins need registered.
    public var types: [any Plugin.Type]

    /// A bot named `name` whose robot is `username` (`<name>_bot` by default), running `plugins` in order, with
    /// `options` (listen filter, roles, rate limit, relays) as `bots.yaml` would set them.
    public init(_ name: String, username: String? = nil, appKey: String = TestHub.appKey, plugins: [TestPlugin],
                options: MynahConfiguration.BotOptions = .init()) {
        spec = MynahConfiguration.Bot(name: name, appKey: appKey, username: username ?? "\(name)_bot",
                                      password: "\(name)-bot-secret", nickname: name, plugins: plugins.map(\.entry))
        spec.options = options
        types = plugins.compactMap(\.type)
    }

    /// The robot's username: where a user sends to talk to the bot.
    public var username: String { spec.username }
}
