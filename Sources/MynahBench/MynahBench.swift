import ArgumentParser
import Foundation
import IMProtocol
import NIOCore
import NIOPosix
import Synchronization

/// `mynah-bench`: a load generator that drives a running Mynah daemon over real sockets from its own process.
@main
struct MynahBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mynah-bench",
        abstract: "Drive a running Mynah daemon and measure it (BENCHMARKS.md).",
        subcommands: [OneToOne.self, Pairs.self, Fanout.self, BotRoundTrip.self, BridgePush.self, Idle.self, Storm.self])
}

/// The wire protocol the generator speaks.
enum WireProtocol: String, ExpressibleByArgument, Sendable {
    /// Mynah's gateway (WebSocket) and REST API.
    case mynah
    /// XMPP over plain TCP, to run the same scenario against a peer server (ejabberd); `pairs` and `idle` only.
    case xmpp
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "The daemon's base URL.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "Another node of the same cluster (one-to-one, fanout): every other session connects there, so deliveries cross nodes.")
    var secondUrl: String?
    @Option(name: .customLong("protocol"), help: "mynah, or xmpp to drive a peer server (pairs and idle only).")
    var wire = WireProtocol.mynah
    @Option(help: "With --protocol xmpp: the server's address.")
    var host = "127.0.0.1"
    @Option(help: "With --protocol xmpp: the client-to-server port.")
    var port = 5222
    @Option(help: "With --protocol xmpp: the domain of the accounts (user@DOMAIN).")
    var domain = "localhost"
    @Option(help: "The AppKey the generator uses.")
    var appkey = "4f7aef34fb361292c566a1cd"
    @Option(help: "The app's master secret (for registering users).")
    var secret = "054d6103823a726fc12d0466"
    @Option(help: "A prefix for the generated usernames; random by default so runs against one daemon do not collide.")
    var prefix: String?
    @Option(name: .customLong("daemon-pid"), help: ArgumentHelp(
        "The daemon's process id: its CPU time (and for idle, its memory) is read from /proc. Repeat it for several "
            + "processes (the nodes of a cluster, their database's backends): their CPU times are added up."))
    var daemonPids: [Int] = []
    @Option(help: "Event loop threads of the generator.")
    var threads = 1
    @Option(help: "Seconds to wait after sending for the answers and deliveries still in flight.")
    var drain: Double = 10
    @Flag(help: "Print the result as one JSON object instead of a table.")
    var json = false

    /// The first `--daemon-pid` (idle reads the memory of one process).
    var daemonPid: Int? { daemonPids.first }

    /// The CPU seconds of every `--daemon-pid` added up; nil when there is none or one cannot be read.
    var daemonCPU: Double? { processCPUSeconds(pids: daemonPids) }

    /// Where to connect; `xmpp` says whether the scenario can drive an XMPP server.
    func target(xmpp: Bool = false) throws -> Target {
        if wire == .xmpp {
            guard xmpp else { throw ValidationError("--protocol xmpp: only the pairs and idle scenarios speak XMPP") }
            guard (1...65535).contains(port) else { throw ValidationError("--port: expected 1 to 65535, got \(port)") }
            return Target(host: host, port: port, appKey: "", secret: "", xmppDomain: domain)
        }
        guard let u = URL(string: url), let host = u.host, let port = u.port else {
            throw ValidationError("--url: expected http://HOST:PORT, got '\(url)'")
        }
        return Target(host: host, port: port, appKey: appkey, secret: secret)
    }

    /// The second node of `--second-url`, if given.
    func secondTarget() throws -> Target? {
        guard let secondUrl else { return nil }
        guard let u = URL(string: secondUrl), let host = u.host, let port = u.port else {
            throw ValidationError("--second-url: expected http://HOST:PORT, got '\(secondUrl)'")
        }
        return Target(host: host, port: port, appKey: appkey, secret: secret)
    }

    var namePrefix: String {
        prefix ?? "b" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    func emit(_ report: Report) {
        print(json ? report.json.serializedString() : report.table)
    }
}

/// Connects `sessions` (at most `parallel` connecting at once), each from its source address when given.
/// With `second`, sessions of odd index connect to that node instead (a two-node cluster).
func connectAll(_ sessions: [Session], target: Target, group: MultiThreadedEventLoopGroup, parallel: Int = 64,
                second: Target? = nil, source: @escaping @Sendable (Int) -> String? = { _ in nil }) async throws {
    try await forEachConcurrently(sessions, limit: parallel) { s in
        try await s.connect(s.index % 2 == 1 ? second ?? target : target, group: group, source: source(s.index))
    }
}

/// Parameters of a message-sending run.
struct SendPlan: Sendable {
    var senders: [Session]
    var target: @Sendable (Session) -> (TargetType, String)
    var window: Int
    var rate: Double
    var duration: Double
    /// Closed loop on replies (the bot's round trip) instead of on `sent`.
    var refillOnDelivery = false
}

/// Sends closed-loop (each sender keeps `window` sends in flight) or open-loop at `rate` per second, for `duration`
/// seconds; then waits up to `drain` seconds for `expected(accepted)` deliveries. Returns accepted sends and elapsed
/// seconds of the sending phase.
func runSends(_ plan: SendPlan, recorder: Recorder, expected: @escaping @Sendable (Int) -> Int,
              drain: Double) async throws -> (accepted: Int, deliveredInTime: Int, seconds: Double, skipped: Int) {
    let start = monotonicNanos()
    recorder.running.store(true, ordering: .relaxed)
    var skipped = 0
    if plan.rate <= 0 {
        let refill: @Sendable (Session) -> Void = { session in
            guard recorder.running.load(ordering: .relaxed) else { return }
            let (type, id) = plan.target(session)
            session.send(id: recorder.begin(), targetType: type, targetID: id)
        }
        if plan.refillOnDelivery {
            recorder.onDelivered.withLock { $0 = Hook { session, _ in refill(session) } }
        } else {
            recorder.onAccepted.withLock { $0 = Hook(refill) }
        }
        for s in plan.senders {
            let (type, id) = plan.target(s)
            for _ in 0..<plan.window { s.send(id: recorder.begin(), targetType: type, targetID: id) }
        }
        try await Task.sleep(for: .seconds(plan.duration))
    } else {
        var issued = 0, next = 0
        while true {
            let elapsed = Double(monotonicNanos() - start) / 1e9
            if elapsed >= plan.duration { break }
            let due = Int(plan.rate * elapsed) - issued
            for _ in 0..<max(0, due) {
                let s = plan.senders[next % plan.senders.count]
                next += 1
                issued += 1
                if s.inflight.load(ordering: .relaxed) >= plan.window {
                    skipped += 1
                    continue
                }
                let (type, id) = plan.target(s)
                s.send(id: recorder.begin(), targetType: type, targetID: id)
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
    recorder.running.store(false, ordering: .relaxed)
    let seconds = Double(monotonicNanos() - start) / 1e9
    let accepted = recorder.acceptedCount.load(ordering: .relaxed)
    let deliveredInTime = recorder.deliveredCount.load(ordering: .relaxed)
    // Let the sends in flight finish, then the deliveries of every accepted send.
    let deadline = monotonicNanos() + UInt64(drain * 1e9)
    while monotonicNanos() < deadline {
        let inflight = plan.senders.reduce(0) { $0 + $1.inflight.load(ordering: .relaxed) }
        let total = recorder.acceptedCount.load(ordering: .relaxed)
        if inflight <= 0, recorder.deliveredCount.load(ordering: .relaxed) >= expected(total) { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    return (accepted, deliveredInTime, seconds, skipped)
}

extension CommonOptions {
    /// Prints the report, then drops the scenario's connections and stops its event loops.
    func finish(_ report: Report, sessions: [Session], group: MultiThreadedEventLoopGroup) async throws {
        emit(report)
        for s in sessions { s.drop() }
        try await group.shutdownGracefully()
    }
}

/// Adds the figures every message scenario reports.
func addCommonFigures(_ report: inout Report, recorder: Recorder, cpuBefore: Double, daemonBefore: Double?,
                      daemonPids: [Int], seconds: Double) {
    let p = recorder.percentiles()
    report.add("latency_samples", Double(p.count), "messages")
    report.add("latency_p50", p.p50, "ms")
    report.add("latency_p99", p.p99, "ms")
    report.add("latency_p99_9", p.p999, "ms")
    report.add("latency_max", p.max, "ms")
    report.add("errors", Double(recorder.errors.load(ordering: .relaxed)), "frames")
    report.add("generator_cpu", processCPUSeconds() - cpuBefore, "s")
    if let before = daemonBefore, let after = processCPUSeconds(pids: daemonPids) {
        report.add("daemon_cpu", after - before, "s")
    }
    report.add("seconds", seconds, "s")
    report.add("load_1min", loadAverage(), "")
    if let e = recorder.firstErrorMessage { report.notes.append("first error: \(e)") }
}

/// Registers `count` users named PREFIX_uN with one password and makes their sessions.
func makeUsers(_ count: Int, prefix: String, rest: RESTClient, recorder: Recorder) async throws -> [Session] {
    let names = (0..<count).map { "\(prefix)_u\($0)" }
    try await rest.register(names, password: "bench-pass")
    return names.enumerated().map { Session(index: $0.offset, username: $0.element, password: "bench-pass",
                                            recorder: recorder) }
}

/// Scenario 1: 1:1 messages between N online users, each sending to the next.
struct OneToOne: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "one-to-one",
                                                    abstract: "1:1 messages between N online users.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Online users; user i sends to user i+1.") var users = 100
    @Option(help: "Sends in flight per user.") var window = 4
    @Option(help: "Messages per second in total; 0 sends closed-loop as fast as accepted.") var rate: Double = 0
    @Option(help: "Seconds of sending.") var duration: Double = 10

    func run() async throws {
        let target = try common.target()
        guard users >= 2 else { throw ValidationError("--users: at least 2") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let rest = RESTClient(target: target)
        let sessions = try await makeUsers(users, prefix: common.namePrefix, rest: rest, recorder: recorder)
        try await connectAll(sessions, target: target, group: group, second: try common.secondTarget())
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        let n = users
        let names = sessions.map(\.username)
        let result = try await runSends(
            SendPlan(senders: sessions, target: { s in (.single, names[(s.index + 1) % n]) }, window: window,
                     rate: rate, duration: duration),
            recorder: recorder, expected: { $0 }, drain: common.drain)
        var report = Report(scenario: "one-to-one")
        report.parameters = [("users", .int(Int64(users))), ("window", .int(Int64(window))), ("rate", .double(rate)),
                             ("duration", .double(duration))]
        report.add("accepted", Double(recorder.acceptedCount.load(ordering: .relaxed)), "messages")
        report.add("accepted_per_second", Double(result.accepted) / result.seconds, "messages/s")
        report.add("delivered", Double(recorder.deliveredCount.load(ordering: .relaxed)), "messages")
        if rate > 0 { report.add("skipped_window_full", Double(result.skipped), "sends") }
        addCommonFigures(&report, recorder: recorder, cpuBefore: cpu, daemonBefore: daemonCPU,
                         daemonPids: common.daemonPids, seconds: result.seconds)
        try await common.finish(report, sessions: sessions, group: group)
    }
}

/// Scenario 2: fan-out to one group of M online members.
struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Group fan-out: one group of M online members.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Members of the group, all online (the app's max_group_members must allow them).") var members = 1000
    @Option(help: "Members that send.") var senders = 1
    @Option(help: "Sends in flight per sender.") var window = 2
    @Option(help: "Group messages per second in total; 0 sends closed-loop.") var rate: Double = 0
    @Option(help: "Seconds of sending.") var duration: Double = 10

    func run() async throws {
        let target = try common.target()
        guard members >= 2, (1...members).contains(senders) else {
            throw ValidationError("--members: at least 2; --senders: 1 to members")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let rest = RESTClient(target: target)
        let sessions = try await makeUsers(members, prefix: common.namePrefix, rest: rest, recorder: recorder)
        let (status, body) = try await rest.call("POST", "/v1/groups/", body: .object([
            "owner_username": .string(sessions[0].username), "name": "bench", "members_username": .array([]),
        ]))
        guard status == 201, case .object(let o) = try JSONValue.parse(body), case .int(let gid) = o["gid"] else {
            throw BenchError("POST /v1/groups/: HTTP \(status): \(body.prefix(300))")
        }
        let others = sessions.dropFirst().map(\.username)
        for start in stride(from: 0, to: others.count, by: 500) {
            let batch = others[start..<min(start + 500, others.count)]
            let (s, b) = try await rest.call("POST", "/v1/groups/\(gid)/members",
                                             body: .object(["add": .array(batch.map { .string($0) })]))
            guard s == 204 || s == 200 else { throw BenchError("POST /v1/groups/\(gid)/members: HTTP \(s): \(b.prefix(300))") }
        }
        try await connectAll(sessions, target: target, group: group, second: try common.secondTarget())
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        let fan = members - 1
        let result = try await runSends(
            SendPlan(senders: Array(sessions.prefix(senders)), target: { _ in (.group, String(gid)) }, window: window,
                     rate: rate, duration: duration),
            recorder: recorder, expected: { $0 * fan }, drain: common.drain)
        let delivered = recorder.deliveredCount.load(ordering: .relaxed)
        var report = Report(scenario: "fanout")
        report.parameters = [("members", .int(Int64(members))), ("senders", .int(Int64(senders))),
                             ("window", .int(Int64(window))), ("rate", .double(rate)), ("duration", .double(duration))]
        report.add("accepted", Double(recorder.acceptedCount.load(ordering: .relaxed)), "group messages")
        report.add("accepted_per_second", Double(result.accepted) / result.seconds, "group messages/s")
        report.add("delivered", Double(delivered), "deliveries")
        report.add("deliveries_per_second", Double(result.deliveredInTime) / result.seconds, "deliveries/s")
        addCommonFigures(&report, recorder: recorder, cpuBefore: cpu, daemonBefore: daemonCPU,
                         daemonPids: common.daemonPids, seconds: result.seconds)
        try await common.finish(report, sessions: sessions, group: group)
    }
}

/// Scenario 3: users to the echo robot and back.
struct BotRoundTrip: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bot", abstract: "Bot round trips through the echo robot.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Online users talking to the robot.") var users = 50
    @Option(help: "The echo robot's username.") var robot = "echo_bot"
    @Option(help: "Round trips in flight per user (the next message leaves when a reply arrives).") var window = 1
    @Option(help: "Round trips per second in total; 0 sends closed-loop.") var rate: Double = 0
    @Option(help: "Seconds of sending.") var duration: Double = 10

    func run() async throws {
        let target = try common.target()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let rest = RESTClient(target: target)
        let sessions = try await makeUsers(users, prefix: common.namePrefix, rest: rest, recorder: recorder)
        try await connectAll(sessions, target: target, group: group)
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        let robot = self.robot
        let result = try await runSends(
            SendPlan(senders: sessions, target: { _ in (.single, robot) }, window: window, rate: rate,
                     duration: duration, refillOnDelivery: true),
            recorder: recorder, expected: { $0 }, drain: common.drain)
        let delivered = recorder.deliveredCount.load(ordering: .relaxed)
        var report = Report(scenario: "bot")
        report.parameters = [("users", .int(Int64(users))), ("window", .int(Int64(window))), ("rate", .double(rate)),
                             ("duration", .double(duration))]
        report.add("accepted", Double(recorder.acceptedCount.load(ordering: .relaxed)), "messages")
        report.add("round_trips", Double(delivered), "replies")
        report.add("round_trips_per_second", Double(result.deliveredInTime) / result.seconds, "replies/s")
        addCommonFigures(&report, recorder: recorder, cpuBefore: cpu, daemonBefore: daemonCPU,
                         daemonPids: common.daemonPids, seconds: result.seconds)
        try await common.finish(report, sessions: sessions, group: group)
    }
}
