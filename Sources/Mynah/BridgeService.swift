import Bridge
import Logging
import ServiceLifecycle

/// Runs the bridge's deadline pass every `interval`: records receipts and expiries and escalates bridged
/// messages not received in time. Deadlines live in the bridge's store, so they survive a restart.
struct BridgeService: Service {
    let bridge: Bridge
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            // Returns early, without throwing, when the daemon shuts down.
            try? await gracefulShutdown(orSleep: interval)
            if Task.isCancelledOrShuttingDown { break }
            let pass = await bridge.runDue()
            if !pass.escalations.isEmpty || pass.expired > 0 {
                logger.info("bridge deadlines", metadata: ["escalations": "\(pass.escalations.count)", "expired": "\(pass.expired)"])
            }
        }
    }
}
