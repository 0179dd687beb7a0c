import Bridge
import IMProtocol
import Synchronization

/// A token bucket (``TokenBucket``) per AppKey for the `/v3` API: `requests` tokens, refilled continuously over
/// `per`, one taken per request. Time comes from the hub's clock, so tests move it by hand.
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
    private let buckets = Mutex<[String: TokenBucket]>([:])

    init(_ limit: RateLimit, clock: @escaping @Sendable () -> Int64) {
        self.limit = limit
        self.clock = clock
    }

    /// Takes a token from `key`'s bucket if it has one.
    func take(_ key: String) -> Decision {
        let now = clock()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(capacity: limit.requests, period: limit.per)
            let allowed = bucket.take(now: now)
            buckets[key] = bucket
            return Decision(allowed: allowed, limit: limit.requests, remaining: bucket.remaining,
                            reset: bucket.secondsUntilFull)
        }
    }
}
