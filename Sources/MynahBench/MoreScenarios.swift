import ArgumentParser
import Foundation
import IMProtocol
import NIOCore
import NIOPosix
import Synchronization

/// Scenario 4: JPush v3 pushes by alias, delivered to online accounts.
struct BridgePush: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bridge",
                                                    abstract: "Bridge pushes by alias to online accounts.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Online accounts the pushes go to, round robin.") var users = 50
    @Option(help: "The rule's alias pattern; {username} is replaced.") var alias = "uid_{username}"
    @Option(help: "HTTP requests in flight.") var concurrency = 16
    @Option(help: "Seconds of pushing.") var duration: Double = 10

    func run() async throws {
        let target = try common.target()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let rest = RESTClient(target: target, connections: concurrency)
        let sessions = try await makeUsers(users, prefix: common.namePrefix, rest: rest, recorder: recorder)
        try await connectAll(sessions, target: target, group: group)
        let aliases = sessions.map { alias.replacingOccurrences(of: "{username}", with: $0.username) }
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        let start = monotonicNanos()
        let end = start + UInt64(duration * 1e9)
        let next = Atomic<Int>(0), failures = Atomic<Int>(0)
        let firstFailure = Mutex<String?>(nil)
        try await forEachConcurrently(Array(0..<concurrency), limit: concurrency) { _ in
            while monotonicNanos() < end {
                let i = next.add(1, ordering: .relaxed).oldValue
                let id = recorder.begin()
                let body: JSONValue = .object([
                    "platform": "all", "audience": .object(["alias": .array([.string(aliases[i % aliases.count])])]),
                    "notification": .object(["alert": .string("bench#\(id)")]),
                ])
                let (status, text) = try await rest.call("POST", "/v3/push", body: body)
                if status == 200 {
                    recorder.acceptedCount.add(1, ordering: .relaxed)
                } else {
                    failures.add(1, ordering: .relaxed)
                    firstFailure.withLock { if $0 == nil { $0 = "HTTP \(status): \(text.prefix(200))" } }
                }
            }
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        let accepted = recorder.acceptedCount.load(ordering: .relaxed)
        let deadline = monotonicNanos() + 10_000_000_000
        while recorder.deliveredCount.load(ordering: .relaxed) < accepted, monotonicNanos() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        var report = Report(scenario: "bridge")
        report.parameters = [("users", .int(Int64(users))), ("concurrency", .int(Int64(concurrency))),
                             ("duration", .double(duration))]
        report.add("pushes_accepted", Double(accepted), "pushes")
        report.add("pushes_per_second", Double(accepted) / seconds, "pushes/s")
        report.add("push_failures", Double(failures.load(ordering: .relaxed)), "requests")
        report.add("delivered", Double(recorder.deliveredCount.load(ordering: .relaxed)), "messages")
        addCommonFigures(&report, recorder: recorder, cpuBefore: cpu, daemonBefore: daemonCPU,
                         daemonPids: common.daemonPids, seconds: seconds)
        if let f = firstFailure.withLock({ $0 }) { report.notes.append("first push failure: \(f)") }
        report.notes.append("latency: from the start of the HTTP request to the message on the account's connection")
        try await common.finish(report, sessions: sessions, group: group)
    }
}

/// The source address of connection `index` when `perSource` connections share one address, from 127.0.0.2 up.
func loopbackSource(_ index: Int, perSource: Int) -> String {
    let n = 2 + index / max(1, perSource)
    return "127.0.\(n / 256).\(n % 256)"
}

/// Scenario 5: many idle logged-in connections; the daemon's resident memory per connection.
struct Idle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Idle logged-in connections: the daemon's resident memory per connection (needs --daemon-pid).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Connections to open.") var connections = 10000
    @Option(help: "Accounts they log in as (connection i uses account i mod users, device i).") var users = 1000
    @Option(help: "Connections per loopback source address (127.0.0.2 and up).") var perSource = 20000
    @Option(help: "Connections being opened at once.") var parallel = 128
    @Option(help: "Seconds to wait after the last login before reading the memory.") var settle: Double = 5
    @Flag(help: """
        Each connection sends one message to another account (online) once all are logged in, and the memory is \
        read after: idle connections that have been used.
        """)
    var sendOnce = false

    func run() async throws {
        let target = try common.target(xmpp: true)
        if sendOnce, common.wire == .xmpp { throw ValidationError("--send-once is for the Mynah gateway") }
        guard let pid = common.daemonPid else { throw ValidationError("--daemon-pid is required") }
        let limit = raiseOpenFileLimit()
        guard connections + 64 <= limit else {
            throw BenchError("--connections \(connections) needs more open files than this process may have (\(limit))")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let prefix = common.namePrefix
        let names = (0..<min(users, connections)).map { "\(prefix)_u\($0)" }
        try await registerAccounts(names, password: "bench-pass", target: target, group: group)
        let sessions = (0..<connections).map {
            Session(index: $0, username: names[$0 % names.count], password: "bench-pass", device: "d\($0)",
                    recorder: recorder)
        }
        /// Each of `used` sends one message to the next account and the acceptances are awaited.
        func sendOneEach(_ used: ArraySlice<Session>) async throws {
            let expected = recorder.acceptedCount.load(ordering: .relaxed) + used.count
            for session in used {
                let next = names[(session.index + 1) % names.count]
                session.send(id: recorder.begin(), targetType: .single, targetID: next)
            }
            let deadline = monotonicNanos() + 120_000_000_000
            while recorder.acceptedCount.load(ordering: .relaxed) < expected {
                guard monotonicNanos() < deadline else { throw BenchError("sends not all accepted within 120 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // Warm up one connection so that lazily built state is not counted per connection.
        try await connectAll([sessions[0]], target: target, group: group)
        if sendOnce { try await sendOneEach(sessions.prefix(1)) }
        try await Task.sleep(for: .seconds(1))
        let before = try residentKiB(pid: pid)
        let cpu = processCPUSeconds()
        let start = monotonicNanos()
        let perSource = self.perSource
        try await connectAll(Array(sessions.dropFirst()), target: target, group: group, parallel: parallel,
                             source: { loopbackSource($0, perSource: perSource) })
        let connectSeconds = Double(monotonicNanos() - start) / 1e9
        if sendOnce { try await sendOneEach(sessions.dropFirst()) }
        try await Task.sleep(for: .seconds(settle))
        let after = try residentKiB(pid: pid)
        let opened = connections - 1
        var report = Report(scenario: "idle")
        report.parameters = [("protocol", .string(common.wire.rawValue)), ("connections", .int(Int64(connections))), ("users", .int(Int64(names.count))),
                             ("per_source", .int(Int64(perSource))), ("send_once", .string("\(sendOnce)"))]
        report.add("daemon_rss_before", Double(before) / 1024, "MiB")
        report.add("daemon_rss_after", Double(after) / 1024, "MiB")
        report.add("bytes_per_connection", Double(after - before) * 1024 / Double(opened), "bytes")
        report.add("still_open", Double(opened + 1 - recorder.closed.load(ordering: .relaxed)), "connections")
        report.add("connect_and_login_seconds", connectSeconds, "s")
        report.add("generator_rss", Double(try residentKiB(pid: Int(getpid()))) / 1024, "MiB")
        report.add("generator_cpu", processCPUSeconds() - cpu, "s")
        report.add("load_1min", loadAverage(), "")
        try await common.finish(report, sessions: sessions, group: group)
    }
}

/// Scenario 6: K clients drop at once, miss messages, and resume at once; the time until all have caught up.
struct Storm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reconnect storm: K clients drop and resume at once.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Clients (one account each).") var clients = 5000
    @Option(help: "Messages each client misses while it is away.") var backlog = 5
    @Option(help: "Accounts that send the missed messages.") var senders = 16
    @Option(help: "Connections per loopback source address (127.0.0.2 and up).") var perSource = 20000
    @Option(help: "Connections being opened at once during the storm; 0 means all.") var parallel = 0
    @Flag(help: "Reconnect with the password (bcrypt on the server) instead of the login token of the first login.")
    var passwordLogin = false

    func run() async throws {
        let target = try common.target()
        let limit = raiseOpenFileLimit()
        guard clients + senders + 64 <= limit else {
            throw BenchError("--clients \(clients) needs more open files than this process may have (\(limit))")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder(ackEvery: max(1, backlog))
        let rest = RESTClient(target: target)
        let prefix = common.namePrefix
        let all = try await makeUsers(clients + senders, prefix: prefix, rest: rest, recorder: recorder)
        let sessions = Array(all.prefix(clients)), senderSessions = Array(all.suffix(senders))
        let perSource = self.perSource
        try await connectAll(sessions, target: target, group: group, parallel: 128,
                             source: { loopbackSource($0, perSource: perSource) })
        try await connectAll(senderSessions, target: target, group: group)
        // Everyone drops.
        for s in sessions {
            s.reconnectsWithToken.store(!passwordLogin, ordering: .relaxed)
            s.drop()
        }
        while recorder.closed.load(ordering: .relaxed) < clients { try await Task.sleep(for: .milliseconds(10)) }
        // The messages they miss: senders round robin, closed loop.
        let names = sessions.map(\.username)
        let total = clients * backlog
        let queued = Atomic<Int>(0)
        let sendNext: @Sendable (Session) -> Void = { s in
            let i = queued.add(1, ordering: .relaxed).oldValue
            guard i < total else { return }
            s.send(id: recorder.begin(), targetType: .single, targetID: names[i % names.count])
        }
        recorder.onAccepted.withLock { $0 = Hook(sendNext) }
        for s in senderSessions { for _ in 0..<4 { sendNext(s) } }
        while recorder.acceptedCount.load(ordering: .relaxed) + recorder.errors.load(ordering: .relaxed) < total {
            try await Task.sleep(for: .milliseconds(10))
        }
        recorder.onAccepted.withLock { $0 = nil }
        // The storm: all reconnect at once; each is caught up when it has its whole backlog.
        let catchUp = Recorder()
        let done = Atomic<Int>(0)
        let backlog = self.backlog
        let t0 = monotonicNanos()
        recorder.onDelivered.withLock { hook in
            hook = Hook { session, count in
                guard session.index < clients, count == backlog else { return }
                catchUp.sample(monotonicNanos() - t0)
                done.add(1, ordering: .relaxed)
            }
        }
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        try await connectAll(sessions, target: target, group: group, parallel: parallel == 0 ? clients : parallel,
                             source: { loopbackSource($0, perSource: perSource) })
        let loginSeconds = Double(monotonicNanos() - t0) / 1e9
        let deadline = monotonicNanos() + 120_000_000_000
        while done.load(ordering: .relaxed) < clients, monotonicNanos() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let seconds = Double(monotonicNanos() - t0) / 1e9
        let p = catchUp.percentiles()
        var report = Report(scenario: "storm")
        report.parameters = [("clients", .int(Int64(clients))), ("backlog", .int(Int64(backlog))),
                             ("parallel", .int(Int64(parallel == 0 ? clients : parallel))),
                             ("login", .string(passwordLogin ? "password" : "token"))]
        report.add("caught_up", Double(done.load(ordering: .relaxed)), "clients")
        report.add("all_caught_up", p.count == clients ? p.max * 1000 / 1000 : -1, "ms")
        report.add("all_logged_in", loginSeconds * 1000, "ms")
        report.add("catch_up_p50", p.p50, "ms")
        report.add("catch_up_p99", p.p99, "ms")
        report.add("generator_cpu", processCPUSeconds() - cpu, "s")
        if let before = daemonCPU, let after = common.daemonCPU {
            report.add("daemon_cpu", after - before, "s")
        }
        report.add("seconds", seconds, "s")
        report.add("load_1min", loadAverage(), "")
        if let e = recorder.firstErrorMessage { report.notes.append("first error: \(e)") }
        report.notes.append("catch-up: from the start of the storm until the client holds all \(backlog) missed messages")
        common.emit(report)
        for s in all { s.drop() }
        try await group.shutdownGracefully()
    }
}
