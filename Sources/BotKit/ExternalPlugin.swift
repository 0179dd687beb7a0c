import Foundation
import IMProtocol
import Logging

/// A plugin that is a program in any language speaking JSON lines on stdin and stdout (`exec:` in `bots.yaml`).
///
/// The daemon sends `init`, the program answers `hello` with its name, commands and schedules; then each event is
/// one `event` line answered by one `actions` line with the same id (the program may ask for stored values with
/// `get` in between). A program that exits, or does not answer in time, is killed and restarted with doubling
/// backoff; after `quarantineAfter` failures in a row it is quarantined until the next reload. Its stderr goes to
/// the daemon's log. The protocol is in `docs/plugins.md`.
public actor ExternalPlugin: BotPlugin {
    /// How a crashed program is restarted.
    public struct Supervision: Sendable, Hashable {
        /// The delay before the first restart; it doubles with every failure in a row.
        public var backoff: Duration
        /// The longest delay.
        public var maxBackoff: Duration
        /// Failures in a row after which the program is not restarted again.
        public var quarantineAfter: Int
        /// How long the handshake may take.
        public var timeout: Duration

        /// Creates a policy: 1s doubling to 60s, quarantine after 5 failures, 10s for the handshake.
        public init(backoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(60), quarantineAfter: Int = 5,
                    timeout: Duration = .seconds(10)) {
            self.backoff = backoff
            self.maxBackoff = maxBackoff
            self.quarantineAfter = quarantineAfter
            self.timeout = timeout
        }
    }

    /// Where the plugin is in its life.
    public enum Status: Sendable, Hashable {
        /// Not started yet, or between a crash and its restart.
        case stopped
        /// Running and past its handshake.
        case running(pid: Int32)
        /// Failed too often (or refused its configuration); not restarted until a reload.
        case quarantined(reason: String)
    }

    /// The plugin's id in its bot.
    public nonisolated let id: String
    let command: [String]
    let environment: [String: String]
    let configuration: JSONValue
    let supervision: Supervision
    let logger: Logger

    private var process: ChildProcess?
    private var generation = 0
    private var starting: Task<Void, any Error>?
    private var status: Status = .stopped
    private var failures = 0
    private var lastFailure: ContinuousClock.Instant?
    private var declaredCommands: [CommandSpec] = []
    private var declaredSchedules: [Schedule] = []
    private var context: PluginContext?
    private var hello: CheckedContinuation<JSONValue, any Error>?
    private var earlyHello: JSONValue?
    private var pending: (id: String, continuation: CheckedContinuation<JSONValue, any Error>)?
    private var nextID = 0
    private var statusWaiters: [(predicate: @Sendable (Status) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    private var stopped = false

    /// Creates the plugin; nothing runs until ``start(context:)``.
    public init(id: String, command: [String], environment: [String: String] = [:], configuration: JSONValue = [:],
                supervision: Supervision = .init(), logger: Logger = Logger(label: "mynah.plugin")) {
        self.id = id
        self.command = command
        self.environment = environment
        self.configuration = configuration
        self.supervision = supervision
        var logger = logger
        logger[metadataKey: "plugin"] = "\(id)"
        self.logger = logger
    }

    /// The plugin's status now.
    public var currentStatus: Status { status }
    /// Failures in a row since the program last ran well (0 once it answers again).
    var failureCount: Int { failures }

    /// Returns once the status satisfies `predicate` (for tests and the admin's tools).
    public func waitForStatus(_ predicate: @escaping @Sendable (Status) -> Bool) async {
        if predicate(status) { return }
        await withCheckedContinuation { statusWaiters.append((predicate, $0)) }
    }

    private func setStatus(_ new: Status) {
        status = new
        let (ready, waiting) = statusWaiters.partitioned { $0.predicate(new) }
        statusWaiters = waiting
        ready.forEach { $0.continuation.resume() }
    }

    /// Spawns the program and shakes hands; a failure counts toward quarantine and is retried in the background.
    public func start(context: PluginContext) async throws {
        self.context = context
        try await ensureRunning()
    }

    /// The commands from the handshake.
    public func commands() async -> [CommandSpec] { declaredCommands }

    /// The schedules from the handshake.
    public func schedules() async -> [Schedule] { declaredSchedules }

    /// Kills the program.
    public func stop() async {
        stopped = true
        starting?.cancel()
        process?.kill()
        process = nil
        failPending(BotError("plugin stopped"))
        setStatus(.stopped)
    }

    /// Sends the event and waits for the answer; a cancelled wait (the bot's time limit) kills the program.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        self.context = context
        if pending != nil { timedOut(generation: generation) }
        try await ensureRunning()
        guard let process else { throw BotError("plugin is not running") }
        nextID += 1
        let id = String(nextID)
        let generation = self.generation
        let answer = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
                pending = (id, c)
                process.send(["type": "event", "id": .string(id), "event": event.json])
            }
        } onCancel: {
            Task { await self.timedOut(generation: generation) }
        }
        let actions: [BotAction]
        do {
            actions = try BotAction.list(answer["actions"], path: "actions")
        } catch {
            throw BotError("invalid answer: \(error)")
        }
        failures = 0
        return actions
    }

    /// The program did not answer in time: it is killed and counts as a failure.
    private func timedOut(generation: Int) {
        guard generation == self.generation, let process else { return }
        logger.warning("plugin did not answer in time; killing it", metadata: ["pid": "\(process.pid)"])
        process.kill()
        self.process = nil
        self.generation += 1
        failPending(BotError("no answer in time"))
        failed("no answer in time")
    }

    /// Starts the program unless it runs, is starting or is quarantined; waits out the backoff first.
    private func ensureRunning() async throws {
        if case .quarantined(let reason) = status { throw BotError("plugin is quarantined: \(reason)") }
        if stopped { throw BotError("plugin stopped") }
        if process != nil { return }
        if let starting { return try await starting.value }
        let task = Task { try await self.launch() }
        starting = task
        defer { starting = nil }
        try await task.value
    }

    private func backoffDelay() -> Duration {
        guard failures > 0 else { return .zero }
        var delay = supervision.backoff
        for _ in 1..<failures where delay < supervision.maxBackoff { delay *= 2 }
        return min(delay, supervision.maxBackoff)
    }

    private func launch() async throws {
        if failures > 0, let lastFailure {
            let wait = lastFailure + backoffDelay() - ContinuousClock.now
            if wait > .zero { try await Task.sleep(for: wait) }
        }
        if stopped { throw BotError("plugin stopped") }
        generation += 1
        earlyHello = nil
        let generation = self.generation
        let child: ChildProcess
        do {
            child = try ChildProcess(command: command, environment: environment, logger: logger)
        } catch {
            failed("cannot start \(command.joined(separator: " ")): \(error.localizedDescription)")
            throw BotError("cannot start the plugin: \(error.localizedDescription)")
        }
        process = child
        Task { await self.read(child, generation: generation) }
        Task {
            let status = await child.waitForExit()
            self.exited(generation: generation, status: status)
        }
        let bot = context?.bot
        child.send(["type": "init", "protocol": 1, "plugin": .string(id), "config": configuration,
                    "bot": bot.map { b -> JSONValue in
                        ["name": .string(b.name), "appkey": .string(b.appKey), "username": .string(b.username),
                         "command_prefix": .string(b.commandPrefix)]
                    } ?? .null])
        let reply: JSONValue
        do {
            reply = try await withTimeout(supervision.timeout) {
                try await withCheckedThrowingContinuation { c in Task { await self.awaitHello(c) } }
            }
        } catch {
            hello?.resume(throwing: BotError("no handshake in time"))
            hello = nil
            child.kill()
            throw BotError("no handshake: \(error)")
        }
        if reply["type"]?.stringValue == "error" {
            let message = reply["message"]?.stringValue ?? "configuration refused"
            logger.error("plugin refused its configuration", metadata: ["error": "\(message)"])
            setStatus(.quarantined(reason: message))
            child.kill()
            throw BotError("plugin refused its configuration: \(message)")
        }
        do {
            try readHello(reply)
        } catch {
            logger.error("invalid handshake", metadata: ["error": "\(error)"])
            setStatus(.quarantined(reason: "invalid handshake: \(error)"))
            child.kill()
            throw BotError("invalid handshake: \(error)")
        }
        logger.info("plugin running", metadata: ["pid": "\(child.pid)"])
        setStatus(.running(pid: child.pid))
    }

    private func awaitHello(_ c: CheckedContinuation<JSONValue, any Error>) {
        if let earlyHello {
            self.earlyHello = nil
            return c.resume(returning: earlyHello)
        }
        hello = c
    }

    private func readHello(_ reply: JSONValue) throws(ProtocolError) {
        guard reply["type"]?.stringValue == "hello" else {
            throw ProtocolError(path: "type", reason: "expected 'hello' or 'error'")
        }
        var commands: [CommandSpec] = []
        if case .array(let items)? = reply["commands"] {
            for (i, item) in items.enumerated() { commands.append(try CommandSpec(json: item, path: "commands[\(i)]")) }
        }
        var schedules: [Schedule] = []
        if case .array(let items)? = reply["schedules"] {
            for (i, item) in items.enumerated() {
                let path = "schedules[\(i)]"
                guard let name = item["name"]?.stringValue, let expression = item["cron"]?.stringValue else {
                    throw ProtocolError(path: path, reason: "expected name and cron strings")
                }
                let zoneName = item["time_zone"]?.stringValue ?? "UTC"
                guard let zone = TimeZone(identifier: zoneName) else {
                    throw ProtocolError(path: "\(path).time_zone", reason: "unknown time zone '\(zoneName)'")
                }
                do {
                    schedules.append(Schedule(name: name, cron: try CronSchedule(expression, timeZone: zone)))
                } catch {
                    throw ProtocolError(path: "\(path).cron", reason: error.message)
                }
            }
        }
        declaredCommands = commands
        declaredSchedules = schedules
    }

    /// Reads the program's stdout until it closes.
    private func read(_ child: ChildProcess, generation: Int) async {
        for await line in child.lines {
            guard generation == self.generation else { return }
            await received(line, from: child)
        }
    }

    private func received(_ line: String, from child: ChildProcess) async {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return }
        guard let message = try? JSONValue.parse(trimmed), let type = message["type"]?.stringValue else {
            logger.warning("plugin wrote a line that is not a protocol message; ignored",
                           metadata: ["line": "\(trimmed.prefix(200))"])
            return
        }
        switch type {
        case "hello", "error":
            if let hello {
                hello.resume(returning: message)
                self.hello = nil
            } else if case .running = status {
                logger.error("plugin reported an error", metadata: ["message": "\(message["message"] ?? .null)"])
            } else {
                earlyHello = message
            }
        case "actions":
            guard let pending, message["id"]?.stringValue == pending.id else {
                logger.warning("answer to no pending event; ignored", metadata: ["id": "\(message["id"] ?? .null)"])
                return
            }
            self.pending = nil
            pending.continuation.resume(returning: message)
        case "get":
            let key = message["key"]?.stringValue ?? ""
            var value = JSONValue.null
            if let context, !key.isEmpty {
                do {
                    value = try await context.store.get(key) ?? .null
                } catch {
                    logger.error("storage read failed", metadata: ["error": "\(error)"])
                }
            }
            child.send(["type": "value", "id": message["id"] ?? .null, "key": .string(key), "value": value])
        case "log":
            logger.info("plugin: \(message["message"]?.stringValue ?? "")")
        default:
            logger.warning("unknown message type from plugin; ignored", metadata: ["type": "\(type)"])
        }
    }

    /// The program exited: fail what waits for it, count the failure, restart after the backoff or quarantine.
    private func exited(generation: Int, status code: Int32) {
        guard generation == self.generation else { return }
        process = nil
        hello?.resume(throwing: BotError("plugin exited with status \(code) during the handshake"))
        hello = nil
        failPending(BotError("plugin exited with status \(code)"))
        if stopped { return }
        if case .quarantined = status { return }
        failed("exited with status \(code)")
    }

    /// Counts a failure; restarts in the background after the backoff, or quarantines.
    private func failed(_ reason: String) {
        failures += 1
        lastFailure = .now
        if failures >= supervision.quarantineAfter {
            logger.error("plugin quarantined after \(failures) failures in a row", metadata: ["reason": "\(reason)"])
            setStatus(.quarantined(reason: "\(failures) failures in a row; last: \(reason)"))
            return
        }
        logger.warning("plugin failed; restarting", metadata: ["reason": "\(reason)", "failures": "\(failures)",
                                                                "backoff": "\(backoffDelay())"])
        setStatus(.stopped)
        Task { await self.restart() }
    }

    /// Starts the program again unless it runs, stopped or is quarantined.
    private func restart() async {
        while !stopped, process == nil {
            if case .quarantined = status { return }
            do {
                try await ensureRunning()
                return
            } catch {
                if case .quarantined = status { return }
                await Task.yield()
            }
        }
    }

    private func failPending(_ error: BotError) {
        pending?.continuation.resume(throwing: error)
        pending = nil
    }
}

extension Array {
    func partitioned(by belongsInFirst: (Element) -> Bool) -> ([Element], [Element]) {
        var first: [Element] = [], second: [Element] = []
        for element in self {
            if belongsInFirst(element) { first.append(element) } else { second.append(element) }
        }
        return (first, second)
    }
}
