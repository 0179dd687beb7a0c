import Bridge
import Logging

/// Runs the bridge's deadline pass every `interval`: records receipts and expiries and escalates bridged
/// messages not received in time. Deadlines live in the bridge's store, so they survive a restart.
enum BridgeService {
    static func service(bridge: Bridge, interval: Duration, logger: Logger) -> PeriodicService {
        PeriodicService(interval: interval, start: .afterInterval) {
            let pass = await bridge.runDue()
            if !pass.escalations.isEmpty || pass.expired > 0 {
                logger.info("bridge deadlines", metadata: ["escalations": "\(pass.escalations.count)", "expired": "\(pass.expired)"])
            }
        }
    }
}
