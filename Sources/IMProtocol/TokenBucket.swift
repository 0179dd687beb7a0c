/// A token bucket: up to `capacity` tokens at once, refilled continuously at `capacity` per `period`; a request
/// takes one. The one implementation behind the bots' send limit and the push API's per-AppKey limit.
///
/// A pure state machine over millisecond times, so it is tested without waiting:
///
/// ```swift
/// var bucket = TokenBucket(capacity: 2, period: .seconds(60))
/// bucket.take(now: 0)       // true
/// bucket.take(now: 0)       // true
/// bucket.take(now: 0)       // false: empty
/// bucket.take(now: 30_000)  // true: half a period refilled one token
/// ```
public struct TokenBucket: Sendable, Hashable {
    /// The most tokens at once, and the tokens refilled per period.
    public let capacity: Int
    /// The refill period in milliseconds (at least 1).
    public let periodMillis: Int64
    /// The tokens left, fractions included.
    public private(set) var tokens: Double
    private var updatedAt: Int64?

    /// A full bucket of `capacity` tokens per `period`.
    public init(capacity: Int, period: Duration) {
        self.capacity = max(capacity, 1)
        periodMillis = max(period.wholeMilliseconds, 1)
        tokens = Double(self.capacity)
    }

    /// Refills the bucket up to `now` (milliseconds; a clock going back refills nothing) and takes one token;
    /// false when there is none.
    public mutating func take(now: Int64) -> Bool {
        if let updatedAt, now > updatedAt {
            tokens = min(Double(capacity), tokens + Double(now - updatedAt) * Double(capacity) / Double(periodMillis))
        }
        if updatedAt.map({ now > $0 }) ?? true { updatedAt = now }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// The whole tokens left.
    public var remaining: Int { Int(tokens.rounded(.down)) }

    /// Whole seconds, rounded up, until the bucket is full again.
    public var secondsUntilFull: Int {
        Int(((Double(capacity) - tokens) * Double(periodMillis) / Double(capacity) / 1000).rounded(.up))
    }
}
