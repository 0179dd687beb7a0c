import BotKit
import Hub
import HubPostgres
import IMClient
import Logging
import ServiceLifecycle
import Synchronization

/// Runs every configured bot: logs each in as its robot account, in process to the embedded hub
/// (``HubBotConnection``, which needs no HTTP server) or over a remote Mynah's gateway (`hub: url:`, `IMClient`),
/// and serves its events, reconnecting with capped exponential backoff until the daemon shuts down.
///
/// ``apply(_:)`` swaps the set of bots in place: bots whose configuration changed or that were removed stop,
/// new and changed ones start, unchanged ones keep running untouched.
final class BotService: Service {
    struct Entry: Sendable {
        var spec: MynahConfiguration.Bot
        var bot: BotKit.Bot
    }

    private struct Running {
        var spec: MynahConfiguration.Bot
        var bot: BotKit.Bot
        var task: Task<Void, Never>
    }

    /// The embedded hub, which bots without `hub: url:` connect to in process.
    let hub: Hub
    /// The daemon's own gateway URL when embedded bots log in over it instead (`Daemon.Options.botsOverGateway`).
    let ownGateway: (@Sendable () async throws -> String)?
    let logger: Logger
    /// Where bots on the real JMessage get their routing callbacks (`nil` when no bot is on JMessage).
    let jmessage: JMessageInbound?
    private let state: Mutex<(pending: [Entry]?, running: [String: Running], serving: Bool)>
    private let requests: AsyncStream<[Entry]>
    private let requestsContinuation: AsyncStream<[Entry]>.Continuation

    /// On PostgreSQL, the leases that keep each bot on exactly one node of the cluster (`nil`: run every bot here).
    let leases: PostgresLeases?
    /// Builds a fresh bot for a spec, to run it again after its lease was lost and taken back (a bot starts once).
    let rebuild: (@Sendable (MynahConfiguration.Bot) -> BotKit.Bot?)?

    init(entries: [Entry], hub: Hub, ownGateway: (@Sendable () async throws -> String)? = nil, logger: Logger,
         jmessage: JMessageInbound? = nil, leases: PostgresLeases? = nil,
         rebuild: (@Sendable (MynahConfiguration.Bot) -> BotKit.Bot?)? = nil) {
        self.leases = leases
        self.rebuild = rebuild
        self.hub = hub
        self.ownGateway = ownGateway
        self.logger = logger
        self.jmessage = jmessage
        state = Mutex((entries, [:], false))
        (requests, requestsContinuation) = AsyncStream.makeStream(of: [Entry].self)
    }

    func run() async throws {
        let initial = state.withLock { s in
            s.serving = true
            defer { s.pending = nil }
            return s.pending ?? []
        }
        await replace(with: initial)
        for await entries in requests.cancelOnGracefulShutdown() {
            await replace(with: entries)
        }
        await replace(with: [])
    }

    /// Makes `entries` the running bots (see the type's description).
    func apply(_ entries: [Entry]) {
        let queued = state.withLock { s -> Bool in
            if s.serving { return false }
            s.pending = entries
            return true
        }
        if !queued { requestsContinuation.yield(entries) }
    }

    /// The configuration of every bot running (or about to start), by name.
    func specs() -> [MynahConfiguration.Bot] {
        state.withLock { s in (s.pending ?? []).map(\.spec) + s.running.values.map(\.spec) }.sorted { $0.name < $1.name }
    }

    /// The running bot named `name`.
    func bot(named name: String) -> BotKit.Bot? {
        state.withLock { $0.running[name]?.bot }
    }

    private func replace(with entries: [Entry]) async {
        let wanted = Dictionary(entries.map { ($0.spec.name, $0) }, uniquingKeysWith: { $1 })
        let stopping = state.withLock { s -> [Running] in
            let names = s.running.keys.filter { wanted[$0]?.spec != s.running[$0]?.spec }
            return names.compactMap { s.running.removeValue(forKey: $0) }
        }
        for running in stopping {
            running.task.cancel()
            await running.task.value
            if wanted[running.spec.name] == nil { running.bot.forgetMetrics() }
            logger.info("bot stopped", metadata: ["bot": "\(running.spec.name)"])
        }
        for entry in entries {
            let isRunning = state.withLock { $0.running[entry.spec.name] != nil }
            if isRunning { continue }
            let task = Task { await self.runBot(entry) }
            state.withLock { $0.running[entry.spec.name] = Running(spec: entry.spec, bot: entry.bot, task: task) }
        }
    }

    /// Logs the bot in, retrying with the client's backoff policy until it succeeds; once online, a remote hub's
    /// client itself reconnects and resumes. Stops the bot and returns on cancellation.
    func runBot(_ entry: Entry) async {
        guard let leases else { return await runHere(entry) }
        // In a cluster the bot runs on whichever node holds its lease; a node that loses it stops the bot, and
        // runs a fresh one if it takes the lease again.
        var entry = entry
        while await leases.whileHolding("bot:\(entry.spec.name)", { [entry] in await self.runHere(entry) }) {
            guard !Task.isCancelled, let fresh = rebuild?(entry.spec) else { return }
            entry.bot = fresh
            state.withLock { s in s.running[entry.spec.name]?.bot = fresh }
        }
    }

    /// Runs the bot on this node until cancelled.
    private func runHere(_ entry: Entry) async {
        var logger = logger
        logger[metadataKey: "bot"] = "\(entry.spec.name)"
        let policy = ReconnectPolicy.standard
        if let settings = entry.spec.options.jmessage {
            guard let inbound = jmessage, let route = inbound.route(for: entry.spec) else {
                logger.error("bot on JMessage not started: its callback_path is new and needs a restart of the daemon",
                             metadata: ["callback_path": "\(settings.callbackPath)"])
                return
            }
            await supervise(entry, policy: policy, hub: "JMessage \(settings.api), callbacks on \(settings.callbackPath)",
                            logger: logger) {
                try await JMessageConnection.open(route: route, password: entry.spec.password,
                                                  nickname: entry.spec.nickname, outbox: inbound.outbox, logger: logger)
            }
            return
        }
        let hub = entry.spec.options.hubURL ?? (ownGateway == nil ? "embedded" : "embedded, over its gateway")
        await supervise(entry, policy: policy, hub: hub, logger: logger) {
            try await self.connect(entry, reconnect: policy, logger: logger)
        }
    }

    /// Starts the bot, serves it on connections from `connect` (a new one, after `policy`'s backoff, whenever the
    /// last one ends or cannot be had), and stops it on cancellation. One loop for every kind of hub.
    private func supervise(_ entry: Entry, policy: ReconnectPolicy, hub: String, logger: Logger,
                           connect: () async throws -> any BotConnection) async {
        var generator = SystemRandomNumberGenerator()
        let bot = entry.bot
        await bot.start()
        var attempt = 0
        while !Task.isCancelled {
            do {
                let connection = try await connect()
                logger.info("bot online", metadata: ["username": "\(entry.spec.username)", "hub": "\(hub)"])
                attempt = 0
                await withTaskCancellationHandler {
                    await bot.serve(connection)
                } onCancel: {
                    connection.close()
                }
                connection.close()
                // The next connection of the device resumes after every entry the bot has acknowledged.
                if let local = connection as? HubBotConnection { await local.acknowledgementsStored() }
                if Task.isCancelled { break }
                logger.warning("bot connection lost for good; logging in again")
            } catch {
                attempt += 1
                logger.warning("bot login failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            do {
                try await Task.sleep(for: policy.delay(attempt: max(attempt, 1), using: &generator))
            } catch {
                break
            }
        }
        await bot.stop()
    }

    /// The bot's connection: in process to the embedded hub, or over the gateway of its remote hub (`hub: url:`).
    func connect(_ entry: Entry, reconnect policy: ReconnectPolicy, logger: Logger) async throws -> any BotConnection {
        let spec = entry.spec, bot = entry.bot
        var remote = spec.options.hubURL
        if remote == nil, let ownGateway { remote = try await ownGateway() }
        guard let url = remote else {
            return try await HubBotConnection.open(hub: hub, appKey: spec.appKey, username: spec.username,
                                                   password: spec.password, logger: logger)
        }
        let (client, _) = try await IMClient.connect(
            .init(url: url, appKey: spec.appKey, username: spec.username, password: spec.password, platform: "api",
                  device: "bot", combinedInbox: true, onConnectionChange: { up in bot.connectionChanged(up: up) }),
            reconnect: policy, logger: logger)
        return client
    }
}
