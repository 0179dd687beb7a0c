import BotKit
import Foundation
import Hub
import IMClient
import Logging
import Mynah
import Synchronization

/// A whole Mynah in the test's process: the real hub on SQLite in a temporary data directory, the real HTTP
/// server and WebSocket gateway on `127.0.0.1` with a port the system chooses, and the real bot runtime with the
/// test's bots and plugins. Users log in over the gateway (``TestUser``); the bots' clock moves only when the
/// test says (``advance(by:within:)``), so cron schedules and reminders fire without waiting.
///
/// ```swift
/// try await TestHub.run(bots: [TestBot("greeter", plugins: [.swift(Greeter.self)])]) { hub in
///     let alice = try await hub.user("alice")
///     #expect(try await alice.ask("hi", to: "greeter_bot") == "hello, alice")
/// }
/// ```
public final class TestHub: Sendable {
    /// The AppKey of the hub's app, which users and bots belong to unless told otherwise.
    public static let appKey = "4f7aef34fb361292c566a1cd"
    /// That app's master secret (for REST calls with Basic auth).
    public static let masterSecret = "054d6103823a726fc12d0466"
    /// Where the bots' clock starts unless told otherwise: Monday 2025-01-06 09:00:00 UTC, in milliseconds.
    public static let defaultStart: Int64 = 1_736_154_000_000

    /// The running daemon, for anything this type does not wrap.
    public let daemon: Daemon
    /// The port the HTTP server and gateway listen on (on `127.0.0.1`).
    public let port: Int
    /// The bots' clock: it reads ``defaultStart`` (or the `now` given to
    /// ``run(bots:plugins:apps:now:dataDirectory:logLevel:configure:_:)``) until the test advances it.
    public let clock: ManualBotClock
    private let current: Mutex<MynahConfiguration>
    private let logger: Logger
    private let users = Mutex<[TestUser]>([])

    private init(daemon: Daemon, port: Int, clock: ManualBotClock, configuration: MynahConfiguration, logger: Logger) {
        self.daemon = daemon
        self.port = port
        self.clock = clock
        current = Mutex(configuration)
        self.logger = logger
    }

    /// The configuration the daemon runs (its bots as ``reconfigure(bots:within:)`` last set them).
    public var configuration: MynahConfiguration { current.withLock { $0 } }

    /// Starts a hub with `bots` (and the extra `apps`, besides ``appKey``), runs `body` once every bot is online,
    /// then logs the users out, shuts the daemon down and removes its data directory (unless `dataDirectory` was
    /// given: two runs on one directory test a restart). `plugins` registers Swift plugin types that only bots of
    /// a later ``reconfigure(bots:within:)`` use; `configure` may change anything else of the configuration, as
    /// `bots.yaml` would.
    @discardableResult
    public static func run<T: Sendable>(
        bots: [TestBot], plugins: [any Plugin.Type] = [], apps: [MynahConfiguration.App] = [], now: Int64 = defaultStart,
        dataDirectory: TemporaryDirectory? = nil, logLevel: Logger.Level = .warning,
        configure: (inout MynahConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestHub) async throws -> T
    ) async throws -> T {
        let directory = try dataDirectory ?? TemporaryDirectory()
        var configuration = MynahConfiguration(
            listen: .init(host: "127.0.0.1", port: 0), dataDirectory: directory.path,
            apps: [.init(appKey: appKey, masterSecret: masterSecret, name: "Test")] + apps, bots: bots.map(\.spec))
        configure(&configuration)
        var logger = Logger(label: "mynah.testing")
        logger.logLevel = logLevel
        let types = bots.flatMap(\.types) + plugins + Array(PluginRegistry.builtIn.types.values)
        var options = Daemon.Options(passwordCost: 4, plugins: PluginRegistry(types))
        let clock = ManualBotClock(now: now)
        options.botClock = clock
        let daemon = try await Daemon(configuration: configuration, options: options, logger: logger)
        let result = try await daemon.withRunning { [configuration, logger] port in
            let hub = TestHub(daemon: daemon, port: port, clock: clock, configuration: configuration, logger: logger)
            defer { hub.users.withLock { $0 }.forEach { $0.close() } }
            try await hub.waitForBots(configuration.bots, replacing: [:], within: TestUser.defaultDeadline)
            return try await body(hub)
        }
        withExtendedLifetime(directory) {}
        return result
    }

    /// The hub itself (accounts, groups, messages), for anything this type does not wrap.
    public var hub: Hub { daemon.hub }

    /// The gateway's URL, for an ``IMClient`` of the test's own.
    public var gatewayURL: String { "ws://127.0.0.1:\(port)/gateway" }

    /// The HTTP base URL of the REST APIs (JMessage v1, JPush v3).
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Registers `username` (password `<username>-pass` unless given) in `appKey` if it is new, and logs it in.
    public func user(_ username: String, appKey: String = TestHub.appKey, password: String? = nil) async throws
        -> TestUser {
        let password = password ?? "\(username)-pass"
        if (try? await hub.user(appKey: appKey, username: username)) == nil {
            try await register(username, appKey: appKey, password: password)
        }
        return try await login(username, appKey: appKey, password: password)
    }

    /// Registers `username` without logging it in (a member of a group who never reads, say).
    public func register(_ username: String, appKey: String = TestHub.appKey, password: String? = nil) async throws {
        _ = try await hub.register(appKey: appKey, NewUser(username: username, password: password ?? "\(username)-pass"),
                                   kind: .user)
    }

    /// Logs an existing user in over the gateway, as device `device`.
    public func login(_ username: String, appKey: String = TestHub.appKey, password: String? = nil,
                      device: String = "default") async throws -> TestUser {
        var clientLogger = logger
        clientLogger[metadataKey: "user"] = "\(username)"
        let client = try await IMClient.connect(
            .init(url: gatewayURL, appKey: appKey, username: username, password: password ?? "\(username)-pass",
                  device: device),
            logger: clientLogger).client
        let user = TestUser(client: client, username: username, appKey: appKey)
        users.withLock { $0.append(user) }
        return user
    }

    /// Creates a group owned by `owner` with `members` (bots are members like anyone); returns it.
    public func group(_ name: String = "team", owner: String, members: [String], appKey: String = TestHub.appKey)
        async throws -> TestGroup {
        let group = try await hub.createGroup(appKey: appKey, NewGroup(owner: owner, name: name, members: members))
        return TestGroup(gid: String(group.gid), appKey: appKey)
    }

    /// Adds members to `group`: its members and bots get a members-joined event.
    public func add(_ usernames: [String], to group: TestGroup) async throws {
        try await hub.changeMembers(appKey: group.appKey, gid: try gid(group), add: usernames, remove: [])
    }

    /// Removes members from `group`.
    public func remove(_ usernames: [String], from group: TestGroup) async throws {
        try await hub.changeMembers(appKey: group.appKey, gid: try gid(group), add: [], remove: usernames)
    }

    private func gid(_ group: TestGroup) throws -> Int64 {
        guard let gid = Int64(group.gid) else { throw HubError(.invalidParameter, "gid '\(group.gid)' is not a number") }
        return gid
    }

    /// Replaces the running bots with `bots` as a reload of `bots.yaml` does: changed and removed bots stop, new
    /// and changed ones start, unchanged ones run on. Returns once every one is online. Their Swift plugin types
    /// must be built in or known to the hub from the start (`bots` or `plugins` of
    /// ``run(bots:plugins:apps:now:dataDirectory:logLevel:configure:_:)``): this is how a test configures a bot with
    /// the id of a group it created.
    public func reconfigure(bots: [TestBot], within limit: Duration = TestUser.defaultDeadline) async throws {
        var configuration = self.configuration
        let before = Dictionary(configuration.bots.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        configuration.bots = bots.map(\.spec)
        var replacing: [String: BotKit.Bot] = [:]
        for spec in configuration.bots where before[spec.name] != nil && before[spec.name] != spec {
            replacing[spec.name] = daemon.botDirectory.bot(named: spec.name)
        }
        try await daemon.apply(configuration)
        current.withLock { $0 = configuration }
        try await waitForBots(configuration.bots, replacing: replacing, within: limit)
    }

    /// Waits until each embedded bot of `specs` has started (as an instance other than its entry in `replacing`)
    /// and is online.
    private func waitForBots(_ specs: [MynahConfiguration.Bot], replacing: [String: BotKit.Bot],
                             within limit: Duration) async throws {
        let directory = daemon.botDirectory
        for spec in specs where spec.options.hubURL == nil && spec.options.jmessage == nil {
            let old = replacing[spec.name]
            try await within(limit, "login of bot \(spec.name)") {
                await directory.waitForBot(named: spec.name, replacing: old).waitUntilOnline()
            }
        }
    }

    /// The running bot named `name` (as in ``TestBot``), once it has started.
    public func bot(_ name: String, within limit: Duration = TestUser.defaultDeadline) async throws -> BotKit.Bot {
        let directory = daemon.botDirectory
        return try await within(limit, "bot named \(name)") { await directory.waitForBot(named: name) }
    }

    /// The durable data of plugin `plugin` (its id: its `pluginName` unless the plugin was given an id) of bot
    /// `bot`, as the plugin's `context.store` sees it.
    public func store(bot: String, plugin: String) -> PluginStore {
        PluginStore(storage: daemon.pluginStorage, bot: bot, plugin: plugin)
    }

    /// The time on the bots' clock, in milliseconds since 1970.
    public var now: Int64 { clock.now() }

    /// Moves the bots' clock forward by `duration` (see ``advance(to:within:)``).
    public func advance(by duration: Duration, within limit: Duration = TestUser.defaultDeadline) async throws {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        try await advance(to: clock.now() + millis, within: limit)
    }

    /// Moves the bots' clock to `time`, one due schedule at a time: every cron tick between now and `time` fires
    /// with the clock at its own minute, and is handled (its messages stored) before the clock moves on. Returns
    /// once the last one is done; the replies then reach the users' ``TestUser/next(within:)``.
    public func advance(to time: Int64, within limit: Duration = TestUser.defaultDeadline) async throws {
        let bots = runningBots()
        let armed = bots.reduce(0) { $0 + $1.scheduleCount }
        let clock = self.clock
        try await within(limit, "\(armed) schedules armed on the bots' clock") { await clock.waitForSleepers(armed) }
        while let next = clock.nextDeadline, next <= time {
            clock.advance(to: next)
            try await within(limit, "\(armed) schedules armed again after a tick") { await clock.waitForSleepers(armed) }
            try await settle(within: limit)
        }
        clock.advance(to: time)
    }

    /// Returns once every bot has handled the events queued for it so far and stored the messages it sent.
    public func settle(within limit: Duration = TestUser.defaultDeadline) async throws {
        for bot in runningBots() {
            try await within(limit, "idle bot \(bot.name)") { await bot.waitUntilIdle() }
        }
    }

    private func runningBots() -> [BotKit.Bot] {
        configuration.bots.compactMap { daemon.botDirectory.bot(named: $0.name) }
    }
}
