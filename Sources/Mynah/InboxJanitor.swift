import Hub
import Logging
import ServiceLifecycle

/// Deletes inbox entries whose offline TTL has passed, once at start and then every `interval`.
///
/// Expired entries are already invisible to readers; this only reclaims their space.
struct InboxJanitor: Service {
    let hub: Hub
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                let removed = try await hub.purgeExpired()
                if removed > 0 { logger.info("expired inbox entries removed", metadata: ["count": "\(removed)"]) }
            } catch where error == .cancelled {
                // A shutdown, not a storage failure.
                break
            } catch {
                logger.error("purging expired inbox entries failed", metadata: ["error": "\(error)"])
            }
            // Returns early, without throwing, when the daemon shuts down.
            try? await gracefulShutdown(orSleep: interval)
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// True once the task is cancelled or the service group shuts down gracefully.
    static var isCancelledOrShuttingDown: Bool {
        Task.isCancelled || Task.isShuttingDownGracefully
    }
}

/// Sleeps for `duration`, returning early when graceful shutdown begins.
func gracefulShutdown(orSleep duration: Duration) async throws {
    try await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
