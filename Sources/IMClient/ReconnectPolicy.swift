import IMProtocol

/// When an `IMClient` tries again after its connection drops: capped exponential backoff with full jitter.
///
/// Attempt `n` (from 1) waits a random time between zero and `min(maxDelay, initialDelay × 2^(n-1))`, so a
/// crowd of clients that lost the server at once does not come back at once.
public struct ReconnectPolicy: Sendable, Equatable {
    /// The cap of the first attempt's delay.
    public var initialDelay: Duration
    /// The largest delay of any attempt.
    public var maxDelay: Duration
    /// Give up after this many failed attempts in a row; `nil` never gives up.
    public var maxAttempts: Int?

    /// Creates a policy; the default starts at 100 ms, caps at 10 s and never gives up.
    public init(initialDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10), maxAttempts: Int? = nil) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
    }

    /// The default policy.
    public static let standard = ReconnectPolicy()

    /// The upper bound of the delay before attempt `attempt` (1-based).
    public func ceiling(attempt: Int) -> Duration {
        var ceiling = initialDelay
        for _ in 1..<max(attempt, 1) {
            ceiling = ceiling * 2
            if ceiling >= maxDelay { return maxDelay }
        }
        return min(ceiling, maxDelay)
    }

    /// The delay before attempt `attempt`: a uniformly random point of `[0, ceiling(attempt)]`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(attempt: attempt)
        let nanos = ceiling.wholeNanoseconds
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanos, using: &generator))
    }

    /// Whether attempt `attempt` may still be made.
    public func allows(attempt: Int) -> Bool {
        maxAttempts.map { attempt <= $0 } ?? true
    }
}
