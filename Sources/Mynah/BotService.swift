import BotKit
import IMClient
import Logging
import ServiceLifecycle
import Synchronization

/// Runs every configured bot: logs each in over a gateway (the embedded hub's, or a remote Mynah's) as its
/// robot account and serves its events, reconnecting with capped exponential backoff until the daemon shuts down.
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

    let gatewayURL: @Sendable () async throws -> String
    let logger: Logger
    /// Where bots on the real JMessage get their routing callbacks (`nil` when no bot is on JMessage).
    let jmessage: JMessageInbound?
    private let state: Mutex<(pending: [Entry]?, running: [String: Running], serving: Bool)>
    private let requests: AsyncStream<[Entry]>
    private let requestsContinuation: AsyncStream<[Entry]>.Continuation

    init(entries: [Entry], gatewayURL: @escaping @Sendable () async throws -> String, logger: Logger,
         jmessage: JMessageInbound? = nil) {
        self.gatewayURL = gatewayURL
        self.logger = logger
        self.jmessage = jmessage
        state = Mutex((entries, [:], false))
        (requests, requestsContinuation) = AsyncStream.makeStream(of: [Entry].self)
    }

    func run() async throws {
        // No gateway: the server could not listen, or the daemon stopped before it did.
        guard let url = try? await gatewayURL() else { return }
        let initial = state.withLock { s in
            s.serving = true
            defer { s.pending = nil }
            return s.pending ?? []
        }
        await replace(with: initial, url: url)
        for await entries in requests.cancelOnGracefulShutdown() {
            await replace(with: entries, url: url)
        }
        await replace(with: [], url: url)
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

    private func replace(with entries: [Entry], url: String) async {
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
            let target = entry.spec.options.hubURL ?? url
            let task = Task { await self.runBot(entry, url: target) }
            state.withLock { $0.running[entry.spec.name] = Running(spec: entry.spec, bot: entry.bot, task: task) }
        }
    }

    /// Logs the bot in, retrying with the client's backoff policy until it succeeds; once online, the client
    /// itself reconnects and resumes. Stops the bot and returns on cancellation.
    func runBot(_ entry: Entry, url: String) async {
        if let settings = entry.spec.options.jmessage { return await runJMessageBot(entry, settings) }
        let policy = ReconnectPolicy.standard
        var generator = SystemRandomNumberGenerator()
        var logger = logger
        logger[metadataKey: "bot"] = "\(entry.spec.name)"
        let bot = entry.bot
        await bot.start()
        var attempt = 0
        while !Task.isCancelled {
            do {
                let (client, _) = try await IMClient.connect(
                    .init(url: url, appKey: entry.spec.appKey, username: entry.spec.username,
                          password: entry.spec.password, platform: "api", device: "bot", combinedInbox: true,
                          onConnectionChange: { up in bot.connectionChanged(up: up) }),
                    reconnect: policy, logger: logger)
                logger.info("bot online", metadata: ["username": "\(entry.spec.username)", "hub": "\(url)"])
                attempt = 0
                await withTaskCancellationHandler {
                    await bot.serve(client)
                } onCancel: {
                    client.close()
                }
                client.close()
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
}
