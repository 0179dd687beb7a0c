import Foundation
import Hummingbird
import HubPostgres
import IMProtocol
import Logging
@testable import Mynah
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A routing receiver on 127.0.0.1, port 0: records every POST (headers and body) and answers each as its script
/// says: 200, 500, or never (a receiver that hangs, for timeouts).
final class RoutingReceiver: Sendable {
    /// What the receiver does with one request.
    enum Answer: Sendable { case ok, fail, hang }

    /// One request as received.
    struct Request: Sendable {
        var authorization: String?
        var contentType: String?
        var timestamp: String?
        var signature: String?
        var body: [UInt8]
        var answer: Answer
        /// The request's URI (path and query).
        var uri = ""
        /// `X-Mynah-Delivery`.
        var delivery: String?
        /// The batch as `m<msgid>` and `e<event_id>:<kind>` in order (messages first, then events; a batch holds
        /// one or the other).
        var items: [String] {
            guard let json = try? JSONValue.parse(body) else { return [] }
            let messages = json["messages"]?.arrayValue?.compactMap { $0["msgid"]?.intValue }.map { "m\($0)" } ?? []
            let events = json["events"]?.arrayValue?.compactMap { e in
                e["event_id"]?.intValue.map { "e\($0):\(e["kind"]?.stringValue ?? "")" }
            } ?? []
            return messages + events
        }
        /// The batch's msgids in order (empty when the body did not parse).
        var msgIDs: [Int64] {
            guard let json = try? JSONValue.parse(body), case .array(let items)? = json["messages"] else { return [] }
            return items.compactMap { $0["msgid"]?.intValue }
        }
        var total: Int64? { (try? JSONValue.parse(body))?["total"]?.intValue }
    }

    let requests: AsyncStream<Request>
    private let continuation: AsyncStream<Request>.Continuation
    /// Answers for the next requests, in order; then `standing`.
    private let script: Mutex<(next: [Answer], standing: Answer)>
    private let received = Mutex(0)

    /// How many requests arrived so far.
    var count: Int { received.withLock { $0 } }

    init(script: [Answer] = [], then standing: Answer = .ok) {
        (requests, continuation) = AsyncStream.makeStream(of: Request.self)
        self.script = Mutex((script, standing))
    }

    /// From now on, answers `answer` (after what is left of the script).
    func answer(_ answer: Answer) { script.withLock { $0.standing = answer } }

    /// Runs the receiver around `body`, which gets its port.
    func run<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/hook") { [continuation, self] request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 8 << 20)
            let answer = self.script.withLock { s in s.next.isEmpty ? s.standing : s.next.removeFirst() }
            self.received.withLock { $0 += 1 }
            continuation.yield(Request(authorization: request.headers[.authorization],
                                       contentType: request.headers[.contentType],
                                       timestamp: request.headers[.init("X-Mynah-Timestamp")!],
                                       signature: request.headers[.init("X-Mynah-Signature")!],
                                       body: Array(buffer.readableBytesView), answer: answer,
                                       uri: request.uri.description,
                                       delivery: request.headers[.init("X-Mynah-Delivery")!]))
            switch answer {
            case .ok: return Response(status: .ok)
            case .fail: return Response(status: .internalServerError)
            case .hang:
                // Not synchronization: a receiver that never answers (the sender's timeout ends the attempt).
                try? await Task.sleep(for: .seconds(60))
                return Response(status: .ok)
            }
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "mynah.test.receiver")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return try await body(port)
    }
}

/// Collects the msgids a receiver got with 200, in order of arrival, until `expected` are all in.
final class ReceivedLog: @unchecked Sendable {
    private var iterator: AsyncStream<RoutingReceiver.Request>.Iterator
    /// Every request so far.
    private(set) var all: [RoutingReceiver.Request] = []

    init(_ receiver: RoutingReceiver) { iterator = receiver.requests.makeAsyncIterator() }

    /// The next request.
    func next() async throws -> RoutingReceiver.Request {
        let request = try #require(await iterator.next())
        all.append(request)
        return request
    }

    /// Reads requests until every id of `expected` was answered 200; returns the accepted ids in arrival order.
    func accepted(until expected: Set<Int64>) async throws -> [Int64] {
        var ids: [Int64] = all.filter { $0.answer == .ok }.flatMap(\.msgIDs)
        while !expected.isSubset(of: Set(ids)) {
            let request = try await next()
            if request.answer == .ok { ids += request.msgIDs }
        }
        return ids
    }

    /// Reads requests until `count` items (messages and events) were answered 200; returns them in arrival order,
    /// repeats removed.
    func acceptedItems(count: Int) async throws -> [String] {
        var items: [String] = []
        var seen = Set<String>()
        for request in all where request.answer == .ok {
            for item in request.items where seen.insert(item).inserted { items.append(item) }
        }
        while items.count < count {
            let request = try await next()
            guard request.answer == .ok else { continue }
            for item in request.items where seen.insert(item).inserted { items.append(item) }
        }
        return items
    }
}

/// A port the OS chose and released, for a daemon whose address another one's configuration must name first.
func reservedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension Array where Element == Int64 {
    /// The ids with repeats (a batch sent again) removed, first occurrence kept.
    var firstOccurrences: [Int64] {
        var seen = Set<Int64>()
        return filter { seen.insert($0).inserted }
    }
}

extension DeadLetters {
    /// The arguments with which `mynah callbacks list | replay` finds the dead letters of `configuration`'s daemon:
    /// its data directory on SQLite; on PostgreSQL a configuration file naming the cluster's database, written into
    /// `directory`.
    static func location(of configuration: MynahConfiguration, in directory: String) throws -> [String] {
        guard let settings = configuration.storage.postgres else { return ["--data-dir", configuration.dataDirectory] }
        let path = directory + "/callbacks-cli.yaml"
        try """
            listen: { host: 127.0.0.1, port: 0 }
            data_dir: \(directory)/cli
            apps:
              - appkey: \(Demo.appKey)
                master_secret: \(Demo.secret)
            bots: []
            storage:
              postgres:
                url: postgres://\(settings.username)@\(settings.host ?? "127.0.0.1"):\(settings.port)/\(settings.database)
                tls: disable

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return ["--config", path]
    }
}
