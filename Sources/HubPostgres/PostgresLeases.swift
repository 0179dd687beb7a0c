import Foundation
import Logging
import NIOPosix
import PostgresNIO

/// Named leases that exactly one node holds at a time: session-level advisory locks on one connection of the
/// node's own (not the pool's), so that a node that dies (its connection closes) gives its leases up at once.
///
/// ``whileHolding(_:_:)`` waits for a lease, runs its body while it is held and cancels the body when the lease is
/// lost (the connection failed: the database may have handed the lock to another node). Every `interval` the
/// node retries leases it does not hold and checks its connection.
public actor PostgresLeases {
    private let settings: PostgresSettings
    private let logger: Logger
    let interval: Duration
    private var connection: PostgresConnection?
    /// Bumped whenever the connection is lost: leases taken on an older one are gone.
    private var generation = 0
    private var lastCheck = ContinuousClock.now
    private var stopped = false

    /// Leases on the server of `settings`, retried every `interval`.
    public init(settings: PostgresSettings, interval: Duration = .seconds(1), logger: Logger = Logger(label: "mynah.leases")) {
        self.settings = settings
        self.interval = interval
        self.logger = logger
    }

    /// The advisory lock keys of `name`: a class of Mynah's (`my` in ASCII) and the name's hash.
    static func key(_ name: String) -> (Int32, Int32) {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return (0x6D79, Int32(bitPattern: hash))
    }

    private func open() async throws -> (PostgresConnection, Int) {
        if let connection { return (connection, generation) }
        let fresh = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try settings.connectionConfiguration(),
            id: 2, logger: logger).get()
        if stopped {
            try? await fresh.close()
            throw CancellationError()
        }
        // Two leases asked at once (the actor is reentrant across the connect): the first connection wins, the
        // other is closed (a connection released unclosed traps in postgres-nio).
        if let connection {
            try? await fresh.close()
            return (connection, generation)
        }
        connection = fresh
        return (fresh, generation)
    }

    private func lose(_ error: any Error) async {
        guard let lost = connection else { return }
        connection = nil
        generation += 1
        if !stopped {
            logger.warning("lost the lease connection; every lease of this node is given up",
                           metadata: ["error": "\(PostgresStorage.reason(error))"])
        }
        try? await lost.close()
    }

    /// Takes `name` if nobody holds it; returns the generation it was taken in.
    func tryTake(_ name: String) async -> Int? {
        let (a, b) = Self.key(name)
        do {
            let (c, generation) = try await open()
            let taken = try await c.value(Bool.self, "SELECT pg_try_advisory_lock(\(a), \(b))") ?? false
            return taken && generation == self.generation ? generation : nil
        } catch {
            await lose(error)
            return nil
        }
    }

    /// Gives `name` back, if it is still held from `generation`.
    func give(_ name: String, generation: Int) async {
        guard generation == self.generation, let connection else { return }
        let (a, b) = Self.key(name)
        do {
            try await connection.run("SELECT pg_advisory_unlock(\(a), \(b))")
        } catch {
            await lose(error)
        }
    }

    /// Whether leases of `generation` are still held, checking the connection at most once per half `interval`.
    func holds(_ generation: Int) async -> Bool {
        guard generation == self.generation, let connection else { return false }
        if ContinuousClock.now - lastCheck >= interval / 2 {
            lastCheck = ContinuousClock.now
            // A check that does not answer within 5 `interval`s counts as lost too (a network that drops packets).
            let patience = self.interval * 5
            let answered = await withTaskGroup(of: Result<Bool, any Error>.self) { group in
                group.addTask {
                    do {
                        try await connection.run("SELECT 1")
                        return .success(true)
                    } catch {
                        return .failure(error)
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: patience)
                    return .success(false)
                }
                let first = await group.next() ?? .success(false)
                group.cancelAll()
                return first
            }
            switch answered {
            case .success(true): break
            case .success(false): await lose(LeaseCheckTimedOut())
            case .failure(let error): await lose(error)
            }
        }
        return generation == self.generation
    }

    /// Closes the connection: every lease of this node is released.
    public func stop() async {
        stopped = true
        if let connection {
            self.connection = nil
            generation += 1
            try? await connection.close()
        }
    }

    /// Waits until this node holds `name`, runs `body` while it does and gives the lease back when `body` returns.
    /// Returns `true` when the lease was lost (and `body` cancelled), `false` when `body` returned or the caller
    /// was cancelled.
    public nonisolated func whileHolding(_ name: String, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        var taken: Int?
        while !Task.isCancelled {
            taken = await tryTake(name)
            if taken != nil { break }
            do { try await Task.sleep(for: interval) } catch { return false }
        }
        guard let generation = taken else { return false }
        logger.info("lease taken", metadata: ["lease": "\(name)"])
        // A node whose session the server ended notices within `interval` (its next check fails) and stops the
        // body; waiting twice that before starting keeps the two from running at once.
        do { try await Task.sleep(for: interval * 2) } catch {
            await give(name, generation: generation)
            return false
        }
        let lost = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return false
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.interval)
                    if Task.isCancelled { return false }
                    if await !self.holds(generation) { return true }
                }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        await give(name, generation: generation)
        if lost { logger.warning("lease lost; stopped here", metadata: ["lease": "\(name)"]) }
        return lost
    }
}

/// The lease connection did not answer a check in time.
struct LeaseCheckTimedOut: Error, CustomStringConvertible {
    var description: String { "the lease connection did not answer a check in time" }
}
