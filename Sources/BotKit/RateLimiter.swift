import IMProtocol

/// The bots' send limit: a token bucket of `capacity` messages per `period` (``TokenBucket``, shared with the push
/// API's limit).
public typealias RateLimiter = TokenBucket
