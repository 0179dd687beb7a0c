import IMProtocol
import Testing

/// The one token bucket (bots' send limit, push API limit) and the one duration-to-milliseconds conversion.
@Suite struct TokenBucketTests {
    @Test func refillsContinuouslyUpToTheCapacity() {
        var bucket = TokenBucket(capacity: 4, period: .seconds(4))
        let burst = (0..<5).map { _ in bucket.take(now: 1_000) }
        #expect(burst == [true, true, true, true, false])
        #expect(bucket.remaining == 0)
        #expect(bucket.secondsUntilFull == 4)
        // One token a second; a long pause fills it, never beyond the capacity.
        let later = [2_000, 2_500, 3_000, 100_000].map { bucket.take(now: Int64($0)) }
        #expect(later == [true, false, true, true])
        #expect(bucket.remaining == 3)
        #expect(bucket.secondsUntilFull == 1)
    }

    @Test func aClockThatGoesBackRefillsNothing() {
        var bucket = TokenBucket(capacity: 1, period: .seconds(1))
        let taken = [5_000, 1_000, 5_500, 6_000].map { bucket.take(now: Int64($0)) }
        #expect(taken == [true, false, false, true])
    }

    @Test func durationsInWholeMillisecondsAndNanoseconds() {
        #expect(Duration.seconds(3).wholeMilliseconds == 3_000)
        #expect(Duration.milliseconds(1_500).wholeMilliseconds == 1_500)
        #expect(Duration.microseconds(2_999).wholeMilliseconds == 2)
        #expect(Duration.seconds(2).wholeNanoseconds == 2_000_000_000)
        #expect(Duration.nanoseconds(7).wholeNanoseconds == 7)
    }
}
