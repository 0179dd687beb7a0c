import AsyncHTTPClient
import Foundation
import IMProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The REST calls the scenarios need for their setup (registration, groups) and the bridge scenario's pushes.
///
/// On AsyncHTTPClient over keep-alive connections: Foundation's URLSession (libcurl here) spent 0.75-0.86 ms of the
/// generator's CPU per push, which on two cores took CPU from the daemon it measures.
struct RESTClient: Sendable {
    let base: String
    let authorization: String
    let client: HTTPClient

    /// One client for the whole run, never shut down: at most `connections` connections to the daemon.
    init(target: Target, connections: Int = 16) {
        base = "http://\(target.host):\(target.port)"
        authorization = "Basic " + Data("\(target.appKey):\(target.secret)".utf8).base64EncodedString()
        client = Self.shared(connections: connections)
    }

    private static let clients = Mutex<[Int: HTTPClient]>([:])

    /// The process's client allowing `connections` connections per host (created on first use; clients are kept
    /// for the process's life, as a short-lived tool can).
    private static func shared(connections: Int) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[connections] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool = .init(idleTimeout: .seconds(120),
                                                 concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
            configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            clients[connections] = client
            return client
        }
    }

    /// One request; returns the status and the body.
    func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: authorization)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(120))
            let data = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), String(buffer: data))
        } catch {
            throw BenchError("\(method) \(path): \(error)")
        }
    }

    /// Registers `usernames` (all with `password`) in batches of 500, a few batches at a time.
    func register(_ usernames: [String], password: String) async throws {
        let batches = stride(from: 0, to: usernames.count, by: 500).map { Array(usernames[$0..<min($0 + 500, usernames.count)]) }
        try await forEachConcurrently(batches, limit: 4) { batch in
            let body = JSONValue.array(batch.map { .object(["username": .string($0), "password": .string(password)]) })
            let (status, text) = try await call("POST", "/v1/users/", body: body)
            guard status == 201 else { throw BenchError("POST /v1/users/: HTTP \(status): \(text.prefix(300))") }
        }
    }
}

/// Runs `body` for every element with at most `limit` running at once.
func forEachConcurrently<T: Sendable>(_ items: [T], limit: Int,
                                      _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, limit) {
            guard let item = iterator.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await body(item) } }
        }
    }
}

/// The CPU seconds (user + system) this process used so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The resident memory of process `pid` in KiB, from /proc/PID/status (VmRSS).
func residentKiB(pid: Int) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        if let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
            return kib
        }
    }
    throw BenchError("/proc/\(pid)/status has no VmRSS line")
}

/// The CPU seconds (user + system) of process `pid`, from /proc/PID/stat; nil when unreadable.
func processCPUSeconds(pid: Int) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // Fields after the command: state is index 0, utime 11, stime 12 (in clock ticks).
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The CPU seconds of the processes `pids` added up; nil when `pids` is empty or one of them is unreadable.
func processCPUSeconds(pids: [Int]) -> Double? {
    guard !pids.isEmpty else { return nil }
    var total = 0.0
    for pid in pids {
        guard let seconds = processCPUSeconds(pid: pid) else { return nil }
        total += seconds
    }
    return total
}

/// Raises this process's open-file limit to its hard limit; returns the new soft limit.
@discardableResult
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}

/// The 1-minute load average, to note how busy the shared machine was.
func loadAverage() -> Double {
    var loads = [Double](repeating: 0, count: 3)
    return getloadavg(&loads, 3) > 0 ? loads[0] : -1
}

/// The result of one scenario: named figures printed as a table and as JSON.
struct Report {
    var scenario: String
    var parameters: [(String, JSONValue)] = []
    var figures: [(name: String, value: Double, unit: String)] = []
    var notes: [String] = []

    mutating func add(_ name: String, _ value: Double, _ unit: String) {
        figures.append((name, value, unit))
    }

    var json: JSONValue {
        var figuresObject: [String: JSONValue] = [:]
        for f in figures { figuresObject[f.name] = .double((f.value * 1000).rounded() / 1000) }
        return .object([
            "scenario": .string(scenario),
            "parameters": .object(Dictionary(parameters, uniquingKeysWith: { a, _ in a })),
            "figures": .object(figuresObject),
            "units": .object(Dictionary(figures.map { ($0.name, JSONValue.string($0.unit)) }, uniquingKeysWith: { a, _ in a })),
            "notes": .array(notes.map { .string($0) }),
        ])
    }

    var table: String {
        let width = max(10, figures.map(\.name.count).max() ?? 0)
        var lines = ["scenario: \(scenario)  " + parameters.map { "\($0.0)=\(Self.plain($0.1))" }.joined(separator: " ")]
        for f in figures {
            let value = f.value == f.value.rounded() && abs(f.value) < 1e15
                ? String(Int64(f.value)) : String(format: "%.3f", f.value)
            lines.append(f.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + String(repeating: " ", count: max(0, 14 - value.count)) + value + "  " + f.unit)
        }
        lines += notes.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }

    private static func plain(_ v: JSONValue) -> String {
        if case .string(let s) = v { return s }
        return v.serializedString()
    }
}
