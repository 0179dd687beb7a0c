import Foundation
import IMProtocol
import Logging
import Subprocess
import Synchronization

/// A plugin that is a program in any language speaking JSON lines on stdin and stdout (`exec:` in `bots.yaml`).
///
/// The daemon sends `init`, the program answers `hello` with its name, commands and schedules; then each event is
/// one `event` line answered by one `actions` line with the same id (the program may ask for stored values with
/// `get` in between). A program that exits, or does not answer in time, is killed and restarted with doubling
/// backoff; after `quarantineAfter` failures in a row it is quarantined until the next reload. Its stderr goes to
/// the daemon's log. The protocol is in `docs/plugins.md`.
///
/// One supervising task per plugin runs the program with swift-subprocess, one run at a time; inside a run, the
/// stdout reader, the stderr logger, the stdin writer, the kill switch and the handshake deadline are child tasks
/// of one task group, so a run ends only when all of them have, and nothing outlives ``stop()``.
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

    /// The supervising task, from ``start(context:)`` to ``stop()``.
    private var supervisor: Task<Void, Never>?
    /// The current run of the program, once spawned.
    private var run: ChildRun?
    private var generation = 0
    private var status: Status = .stopped
    /// Whether the current run has shaken hands.
    private var handshaken = false
    private var failures = 0
    /// How many runs have ended their handshake, well or not (``start(context:)`` waits for the first).
    private var attempts = 0
    private var lastReason: String?
    private var declaredCommands: [CommandSpec] = []
    private var declaredSchedules: [Schedule] = []
    private var context: PluginContext?
    private var pending: (id: String, continuation: CheckedContinuation<JSONValue, any Error>)?
    private var nextID = 0
    private var changeWaiters: [CheckedContinuation<Void, Never>] = []
    private var stopped = false

    /// Longest stdout line kept; longer ones are reported as garbage and skipped.
    static let maxLineBytes = 12 << 20    // room for an 8 MB attachment in base64

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
        while !predicate(status) { await nextChange() }
    }

    /// Returns at the next change of status, handshake or run, or at ``stop()``.
    private func nextChange() async {
        await withCheckedContinuation { changeWaiters.append($0) }
    }

    private func changed() {
        let waiters = changeWaiters
        changeWaiters = []
        waiters.forEach { $0.resume() }
    }

    private func setStatus(_ new: Status) {
        status = new
        changed()
    }

    /// Starts supervising the program and waits for its first handshake; a failure counts toward quarantine and
    /// is retried after the backoff.
    public func start(context: PluginContext) async throws {
        self.context = context
        if stopped { throw BotError("plugin stopped") }
        if supervisor == nil { supervisor = Task { await self.supervise() } }
        while attempts == 0 && !stopped { await nextChange() }
        if case .running = status { return }
        if case .quarantined(let reason) = status { throw BotError("plugin is quarantined: \(reason)") }
        throw BotError("plugin did not start: \(lastReason ?? "stopped")")
    }

    /// The commands from the handshake.
    public func commands() async -> [CommandSpec] { declaredCommands }

    /// The schedules from the handshake.
    public func schedules() async -> [Schedule] { declaredSchedules }

    /// Kills the program and waits until its run and the supervision have ended.
    public func stop() async {
        stopped = true
        run?.kill("plugin stopped")
        failPending(BotError("plugin stopped"))
        let supervisor = self.supervisor
        supervisor?.cancel()
        await supervisor?.value
        setStatus(.stopped)
    }

    /// Waits out a restart of the program: the event's time limit starts once the restarted program has shaken
    /// hands, so a restart does not use up the next event's limit. Throws when quarantined or stopped.
    public func ready() async throws {
        try await withTaskCancellationHandler {
            _ = try await runningChild()
        } onCancel: {
            // Wakes the wait so that it sees the cancellation.
            Task { await self.changed() }
        }
    }

    /// Sends the event and waits for the answer; a cancelled wait (the bot's time limit) kills the program.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        self.context = context
        let run = try await runningChild()
        nextID += 1
        let id = String(nextID)
        let answer = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
                pending = (id, c)
                run.send(["type": "event", "id": .string(id), "event": event.json])
            }
        } onCancel: {
            run.kill("no answer in time")
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

    /// The current run once it has shaken hands (waiting out a restart), or the reason there is none.
    private func runningChild() async throws -> ChildRun {
        while true {
            if case .quarantined(let reason) = status { throw BotError("plugin is quarantined: \(reason)") }
            if stopped || supervisor == nil { throw BotError("plugin stopped") }
            try Task.checkCancellation()
            if let run, handshaken, !run.isKilled { return run }
            await nextChange()
        }
    }

    private func backoffDelay() -> Duration {
        guard failures > 0 else { return .zero }
        var delay = supervision.backoff
        for _ in 1..<failures where delay < supervision.maxBackoff { delay *= 2 }
        return min(delay, supervision.maxBackoff)
    }

    /// Runs the program again and again, with the backoff between failures, until it is quarantined or stopped.
    private func supervise() async {
        while !stopped && !Task.isCancelled {
            if case .quarantined = status { return }
            let delay = backoffDelay()
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { return }
            }
            if stopped { return }
            let reason = await runOnce()
            handshaken = false
            run = nil
            failPending(BotError("plugin \(reason)"))
            if case .quarantined = status {
                // Refused its configuration or shook hands wrongly: not restarted.
            } else if !stopped {
                failed(reason)
            }
            changed()
        }
    }

    /// One run of the program, from spawn to exit; returns why it ended.
    private func runOnce() async -> String {
        generation += 1
        let child = ChildRun(generation: generation)
        run = child
        handshaken = false
        var environment: [Environment.Key: String?] = [:]
        for (key, value) in self.environment {
            if let key = Environment.Key(rawValue: key) { environment[key] = value }
        }
        ChildRun.ignoreSIGPIPE()
        // Its own process group, so that the kill reaches whatever it started too and its stdout surely closes.
        var options = PlatformOptions()
        options.processGroupID = 0
        let outcome: TerminationStatus
        do {
            outcome = try await Subprocess.run(
                .name("env"), arguments: Arguments(command), environment: .inherit.updating(environment),
                platformOptions: options, input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                await self.serve(execution, child: child)
            }.terminationStatus
        } catch {
            let reason = "cannot start \(command.joined(separator: " ")): \(error)"
            attemptEnded(child, reason: reason)
            return reason
        }
        let reason: String
        if let killed = child.reason {
            reason = killed
        } else {
            switch outcome {
            case .exited(let code): reason = "exited with status \(code)"
            case .signaled(let signal): reason = "killed by signal \(signal)"
            }
        }
        attemptEnded(child, reason: reason)
        return reason
    }

    /// Counts a run that ended before its handshake as an attempt (``start(context:)`` waits for one).
    private func attemptEnded(_ child: ChildRun, reason: String) {
        guard child.generation == generation, !handshaken else { return }
        attempts += 1
        lastReason = reason
        changed()
    }

    /// Everything one run does while the program lives, as child tasks of one group: stdout read into protocol
    /// messages, stderr into the log, lines written to stdin, the kill switch, and the handshake's deadline.
    private func serve(_ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>,
                       child: ChildRun) async {
        let logger = self.logger, timeout = supervision.timeout
        let pid = execution.processIdentifier.value
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var splitter = LineSplitter(maxLineBytes: Self.maxLineBytes)
                let log = { (line: LineSplitter.Line) in
                    switch line {
                    case .text(let text): logger.notice("plugin stderr", metadata: ["line": "\(text)"])
                    case .overlong(let prefix): logger.notice("plugin stderr", metadata: ["line": "\(prefix)… (too long)"])
                    }
                }
                do {
                    for try await chunk in execution.standardError {
                        chunk.withUnsafeBytes { splitter.feed($0, log) }
                    }
                } catch {}
                splitter.finish(log)
            }
            group.addTask {
                let writer = execution.standardInputWriter
                for await line in child.outbox {
                    do { _ = try await writer.write(line) } catch { break }
                }
                try? await writer.finish()
            }
            group.addTask {
                for await _ in child.kills {
                    try? execution.send(signal: .kill, toProcessGroup: true)
                    break
                }
            }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return }
                if await !self.hasShakenHands(child) { child.kill("no handshake in time") }
            }
            child.send(initMessage())
            var splitter = LineSplitter(maxLineBytes: Self.maxLineBytes)
            do {
                for try await chunk in execution.standardOutput {
                    var lines: [LineSplitter.Line] = []
                    chunk.withUnsafeBytes { splitter.feed($0) { lines.append($0) } }
                    for line in lines { await received(line, from: child, pid: pid) }
                }
            } catch {}
            var last: [LineSplitter.Line] = []
            splitter.finish { last.append($0) }
            for line in last { await received(line, from: child, pid: pid) }
            // Stdout closed: the program ended, or must (a program that closes its stdout cannot answer).
            if child.reason == nil && !stopped { child.kill(nil) }
            child.close()
            group.cancelAll()
        }
    }

    private func hasShakenHands(_ child: ChildRun) -> Bool {
        child.generation == generation && handshaken
    }

    private func initMessage() -> JSONValue {
        let bot = context?.bot
        return ["type": "init", "protocol": 1, "plugin": .string(id), "config": configuration,
                "bot": bot.map { b -> JSONValue in
                    ["name": .string(b.name), "appkey": .string(b.appKey), "username": .string(b.username),
                     "command_prefix": .string(b.commandPrefix)]
                } ?? .null]
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

    private func received(_ line: LineSplitter.Line, from child: ChildRun, pid: Int32) async {
        guard child.generation == generation else { return }
        let text: String
        switch line {
        case .text(let t): text = t
        case .overlong(let prefix):
            logger.warning("plugin wrote a line longer than \(Self.maxLineBytes) bytes; ignored",
                           metadata: ["line": "\(prefix)…"])
            return
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return }
        guard let message = try? JSONValue.parse(trimmed), let type = message["type"]?.stringValue else {
            logger.warning("plugin wrote a line that is not a protocol message; ignored",
                           metadata: ["line": "\(trimmed.prefix(200))"])
            return
        }
        switch type {
        case "hello", "error":
            guard !handshaken else {
                logger.error("plugin reported an error", metadata: ["message": "\(message["message"] ?? .null)"])
                return
            }
            shakeHands(message, child: child, pid: pid)
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

    /// The program's answer to `init`: its declarations, or a refusal of its configuration (quarantined).
    private func shakeHands(_ reply: JSONValue, child: ChildRun, pid: Int32) {
        attempts += 1
        if reply["type"]?.stringValue == "error" {
            let message = reply["message"]?.stringValue ?? "configuration refused"
            logger.error("plugin refused its configuration", metadata: ["error": "\(message)"])
            lastReason = "refused its configuration: \(message)"
            setStatus(.quarantined(reason: message))
            child.kill("refused its configuration")
            return
        }
        do {
            try readHello(reply)
        } catch {
            logger.error("invalid handshake", metadata: ["error": "\(error)"])
            lastReason = "invalid handshake: \(error)"
            setStatus(.quarantined(reason: "invalid handshake: \(error)"))
            child.kill("invalid handshake")
            return
        }
        handshaken = true
        logger.info("plugin running", metadata: ["pid": "\(pid)"])
        setStatus(.running(pid: pid))
    }

    /// Counts a failure: the supervisor restarts the program after the backoff, or it is quarantined.
    private func failed(_ reason: String) {
        failures += 1
        if failures >= supervision.quarantineAfter {
            logger.error("plugin quarantined after \(failures) failures in a row", metadata: ["reason": "\(reason)"])
            setStatus(.quarantined(reason: "\(failures) failures in a row; last: \(reason)"))
            return
        }
        logger.warning("plugin failed; restarting", metadata: ["reason": "\(reason)", "failures": "\(failures)",
                                                                "backoff": "\(backoffDelay())"])
        setStatus(.stopped)
    }

    private func failPending(_ error: BotError) {
        pending?.continuation.resume(throwing: error)
        pending = nil
    }
}

/// One run of an external program as its supervisor and ``ExternalPlugin/handle(_:context:)`` share it: the
/// lines waiting for its stdin, and a kill switch that works from anywhere (a cancellation handler too).
final class ChildRun: Sendable {
    /// Which run of the plugin this is.
    let generation: Int
    /// Lines for the program's stdin, in order.
    let outbox: AsyncStream<[UInt8]>
    private let outboxInput: AsyncStream<[UInt8]>.Continuation
    /// Fires once when the program must die.
    let kills: AsyncStream<Void>
    private let killInput: AsyncStream<Void>.Continuation
    private let killed = Mutex<(done: Bool, reason: String?)>((false, nil))

    init(generation: Int) {
        self.generation = generation
        (outbox, outboxInput) = AsyncStream.makeStream(of: [UInt8].self)
        (kills, killInput) = AsyncStream.makeStream(of: Void.self)
    }

    /// Queues one JSON line for the program's stdin.
    func send(_ value: JSONValue) {
        var bytes = value.serialized()
        bytes.append(UInt8(ascii: "\n"))
        outboxInput.yield(bytes)
    }

    /// Kills the program (SIGKILL, which it cannot ignore); the first reason given is why the run ended.
    func kill(_ reason: String?) {
        killed.withLock { k in
            k.done = true
            if k.reason == nil { k.reason = reason }
        }
        killInput.yield(())
    }

    /// Whether the program has been told to die.
    var isKilled: Bool { killed.withLock { $0.done } }

    /// Why the run was ended by the daemon, if it was.
    var reason: String? { killed.withLock { $0.reason } }

    /// Ends the stdin writer and the kill switch once the program is gone.
    func close() {
        outboxInput.finish()
        killInput.finish()
    }

    private static let sigpipe: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// A write to a program that has exited fails instead of killing the daemon.
    static func ignoreSIGPIPE() { _ = sigpipe }
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
