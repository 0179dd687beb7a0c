/// A token bucket: up to `capacity` messages at once, refilled at `capacity` per `period`.
///
/// A pure state machine over millisecond times, so it is tested without waiting.
public struct RateLimiter: Sendable, Hashable {
    /// The most messages sent at once (and per period).
    public let capacity: Int
    /// The refill period in milliseconds.
    public let periodMillis: Int64
    private var tokens: Double
    private var updatedAt: Int64?

    /// A full bucket of `capacity` messages per `period`.
    public init(capacity: Int, period: Duration) {
        self.capacity = max(capacity, 1)
        let (seconds, attoseconds) = period.components
        self.periodMillis = max(seconds * 1000 + attoseconds / 1_000_000_000_000_000, 1)
        tokens = Double(self.capacity)
    }

    /// Takes one token at `now` (milliseconds); false when the bucket is empty.
    public mutating func take(now: Int64) -> Bool {
        if let updatedAt, now > updatedAt {
            tokens = min(Double(capacity), tokens + Double(now - updatedAt) * Double(capacity) / Double(periodMillis))
        }
        if updatedAt == nil || now > updatedAt! { updatedAt = now }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
