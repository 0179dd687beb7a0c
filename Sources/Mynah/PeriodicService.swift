import ServiceLifecycle

/// Runs `pass` every `interval` until the daemon shuts down: the one loop behind the inbox janitor and the bridge's
/// deadlines. A service that returns on shutdown rather than throwing, as a `ServiceGroup` wants.
struct PeriodicService: Service {
    /// Whether the first pass runs at start or only after the first interval.
    enum Start: Sendable {
        case immediately, afterInterval
    }

    let interval: Duration
    let start: Start
    let pass: @Sendable () async -> Void

    func run() async throws {
        if start == .afterInterval { try? await gracefulShutdown(orSleep: interval) }
        while !Task.isCancelledOrShuttingDown {
            await pass()
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
