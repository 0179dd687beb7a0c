import ArgumentParser
import IMProtocol
import NIOPosix
import Synchronization

/// Registers `usernames` (all with `password`) on the target: over REST for Mynah, by in-band registration
/// (XEP-0077, one short connection per account, `parallel` at once) for an XMPP server.
func registerAccounts(_ usernames: [String], password: String, target: Target, group: MultiThreadedEventLoopGroup,
                      parallel: Int = 32) async throws {
    guard let domain = target.xmppDomain else {
        try await RESTClient(target: target).register(usernames, password: password)
        return
    }
    try await forEachConcurrently(usernames, limit: parallel) { name in
        _ = try await XMPPSocket.connect(group: group, host: target.host, port: target.port, source: nil,
                                         domain: domain, username: name, password: password, resource: "register",
                                         purpose: .register, onMessage: { _ in }, onClose: {})
    }
}

/// The side-by-side scenario (issue 17), the same over Mynah's gateway and over XMPP: `users` online users in pairs
/// (0 and 1, 2 and 3, …), each sending 1:1 messages to its partner. The window is on delivery, the one thing both
/// protocols show: a sender keeps `window` messages sent and not yet received by its partner (closed loop), or the
/// generator sends `rate` messages a second round robin, skipping a sender whose window is full (open loop).
/// Latency runs from the send to the receipt of the message, identified by the send id in its body.
struct Pairs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "1:1 messages in pairs, windowed on delivery; Mynah or an XMPP server (--protocol xmpp).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Online users, an even number: user 2k and user 2k+1 write to each other.") var users = 200
    @Option(help: "Messages per sender sent and not yet delivered to its partner.") var window = 8
    @Option(help: "Messages per second in total; 0 sends closed-loop on delivery.") var rate: Double = 0
    @Option(help: "Seconds of sending.") var duration: Double = 10

    func run() async throws {
        let target = try common.target(xmpp: true)
        guard users >= 2, users % 2 == 0 else { throw ValidationError("--users: an even number, at least 2") }
        guard window >= 1 else { throw ValidationError("--window: at least 1") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let recorder = Recorder()
        let names = (0..<users).map { "\(common.namePrefix)_u\($0)" }
        try await registerAccounts(names, password: "bench-pass", target: target, group: group)
        let sessions = names.enumerated().map {
            Session(index: $0.offset, username: $0.element, password: "bench-pass", recorder: recorder)
        }
        try await connectAll(sessions, target: target, group: group)
        let send: @Sendable (Session) -> Void = { s in
            s.awaitingDelivery.add(1, ordering: .relaxed)
            s.send(id: recorder.begin(), targetType: .single, targetID: names[s.index ^ 1])
        }
        let closedLoop = rate <= 0
        // A delivery to s frees a place in its partner's window; closed loop, the partner sends again at once.
        recorder.onDelivered.withLock { hook in
            hook = Hook { s, _ in
                let sender = sessions[s.index ^ 1]
                sender.awaitingDelivery.subtract(1, ordering: .relaxed)
                if closedLoop, recorder.running.load(ordering: .relaxed) { send(sender) }
            }
        }
        let cpu = processCPUSeconds(), daemonCPU = common.daemonCPU
        let start = monotonicNanos()
        recorder.running.store(true, ordering: .relaxed)
        var skipped = 0
        if closedLoop {
            for s in sessions { for _ in 0..<window { send(s) } }
            try await Task.sleep(for: .seconds(duration))
        } else {
            var issued = 0
            while true {
                let elapsed = Double(monotonicNanos() - start) / 1e9
                if elapsed >= duration { break }
                for _ in 0..<max(0, Int(rate * elapsed) - issued) {
                    let s = sessions[issued % sessions.count]
                    issued += 1
                    if s.awaitingDelivery.load(ordering: .relaxed) >= window {
                        skipped += 1
                    } else {
                        send(s)
                    }
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        recorder.running.store(false, ordering: .relaxed)
        let seconds = Double(monotonicNanos() - start) / 1e9
        let deliveredInTime = recorder.deliveredCount.load(ordering: .relaxed)
        let sent = recorder.sendsBegun
        let deadline = monotonicNanos() + UInt64(common.drain * 1e9)
        while recorder.deliveredCount.load(ordering: .relaxed) < sent || sessions.contains(where: {
            $0.inflight.load(ordering: .relaxed) > 0
        }), monotonicNanos() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let delivered = recorder.deliveredCount.load(ordering: .relaxed)
        var report = Report(scenario: "pairs")
        report.parameters = [("protocol", .string(common.wire.rawValue)), ("users", .int(Int64(users))),
                             ("window", .int(Int64(window))), ("rate", .double(rate)), ("duration", .double(duration))]
        report.add("sent", Double(sent), "messages")
        if target.xmppDomain == nil {
            report.add("accepted", Double(recorder.acceptedCount.load(ordering: .relaxed)), "messages")
        }
        report.add("delivered", Double(delivered), "messages")
        report.add("deliveries_per_second", Double(deliveredInTime) / seconds, "messages/s")
        if !closedLoop { report.add("skipped_window_full", Double(skipped), "sends") }
        addCommonFigures(&report, recorder: recorder, cpuBefore: cpu, daemonBefore: daemonCPU,
                         daemonPids: common.daemonPids, seconds: seconds)
        if let daemon = report.figures.first(where: { $0.name == "daemon_cpu" }), delivered > 0 {
            report.add("daemon_cpu_per_message", daemon.value * 1e6 / Double(delivered), "µs")
        }
        report.notes.append("daemon CPU from before the first send until every message was delivered (or --drain)")
        try await common.finish(report, sessions: sessions, group: group)
    }
}
