import Hub
import Logging

/// Deletes inbox entries whose offline TTL has passed, once at start and then every `interval`.
///
/// Expired entries are already invisible to readers; this only reclaims their space.
enum InboxJanitor {
    static func service(hub: Hub, interval: Duration, logger: Logger) -> PeriodicService {
        PeriodicService(interval: interval, start: .immediately) {
            do {
                let removed = try await hub.purgeExpired()
                if removed > 0 { logger.info("expired inbox entries removed", metadata: ["count": "\(removed)"]) }
            } catch where (error as? HubError) == .cancelled {
                // A shutdown, not a storage failure.
            } catch {
                logger.error("purging expired inbox entries failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
