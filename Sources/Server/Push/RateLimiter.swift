import Bridge
import Synchronization

/// A token bucket per AppKey for the `/v3` API: `requests` tokens, refilled continuously over `per`, one taken
/// per request. Time comes from the hub's clock, so tests move it by hand.
final class RateLimiter: Sendable {
    /// What a request learns: whether it may proceed, and the `X-Rate-Limit-*` values.
    struct Decision: Sendable, Equatable {
        var allowed: Bool
        var limit: Int
        var remaining: Int
        /// Seconds until the bucket is full again.
        var reset: Int
    }

    let limit: RateLimit
    let clock: @Sendable () -> Int64
    private let buckets = Mutex<[String: (tokens: Double, at: Int64)]>([:])

    init(_ limit: RateLimit, clock: @escaping @Sendable () -> Int64) {
        self.limit = limit
        self.clock = clock
    }

    /// Takes a token from `key`'s bucket if it has one.
    func take(_ key: String) -> Decision {
        let now = clock()
        let capacity = Double(limit.requests)
        let periodMillis = Double(limit.per.components.seconds * 1000 + limit.per.components.attoseconds / 1_000_000_000_000_000)
        let perMilli = capacity / max(periodMillis, 1)
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? (capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + Double(max(0, now - bucket.at)) * perMilli)
            bucket.at = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            let reset = Int(((capacity - bucket.tokens) / perMilli / 1000).rounded(.up))
            return Decision(allowed: allowed, limit: limit.requests, remaining: Int(bucket.tokens.rounded(.down)),
                            reset: reset)
        }
    }
}
