import BotKit
import Foundation
import Testing

/// Next-fire computations of the cron parser, in UTC and across DST changes.
@Suite struct CronScheduleTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    /// `yyyy-MM-dd HH:mm` in `zone` as a date.
    static func date(_ text: String, _ zone: TimeZone = utc) -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.date(from: text)!
    }

    static func next(_ expression: String, after text: String, _ zone: TimeZone = utc) throws -> Date? {
        try CronSchedule(expression, timeZone: zone).next(after: date(text, zone))
    }

    @Test(arguments: [
        ("* * * * *", "2025-01-01 10:00", "2025-01-01 10:01"),
        ("*/15 * * * *", "2025-01-01 10:07", "2025-01-01 10:15"),
        ("0 9 * * *", "2025-01-01 09:00", "2025-01-02 09:00"),
        ("30 8-18/2 * * *", "2025-01-01 11:00", "2025-01-01 12:30"),
        ("0 0 1 * *", "2025-01-15 00:00", "2025-02-01 00:00"),
        ("0 12 * * mon-fri", "2025-01-03 13:00", "2025-01-06 12:00"),   // Friday afternoon -> Monday
        ("0 12 * * 7", "2025-01-01 00:00", "2025-01-05 12:00"),        // 7 is Sunday
        ("0 0 29 feb *", "2025-01-01 00:00", "2028-02-29 00:00"),      // the next leap day
        ("0 0 13 * fri", "2025-01-01 00:00", "2025-01-03 00:00"),      // dom OR dow when both restricted
        ("5/20 * * * *", "2025-01-01 10:30", "2025-01-01 10:45"),
        ("0 0 * jan,jul *", "2025-02-01 00:00", "2025-07-01 00:00"),
        ("59 23 31 12 *", "2025-06-01 00:00", "2025-12-31 23:59"),
    ])
    func nextFireInUTC(expression: String, after: String, expected: String) throws {
        #expect(try Self.next(expression, after: after) == Self.date(expected))
    }

    @Test func aTimeInsideTheSpringForwardGapDoesNotFireThatDay() throws {
        // Berlin skips 02:00-03:00 on 2025-03-30.
        let next = try Self.next("30 2 * * *", after: "2025-03-29 03:00", Self.berlin)
        #expect(next == Self.date("2025-03-31 02:30", Self.berlin))
        // Hourly schedules go straight from 01:xx to 03:xx.
        #expect(try Self.next("15 * * * *", after: "2025-03-30 01:20", Self.berlin) == Self.date("2025-03-30 03:15", Self.berlin))
    }

    @Test func aTimeThatOccursTwiceFiresOnceAtTheFirstOccurrence() throws {
        // Berlin repeats 02:00-03:00 on 2025-10-26: 02:30 CEST is 00:30 UTC, 02:30 CET would be 01:30 UTC.
        let cron = try CronSchedule("30 2 * * *", timeZone: Self.berlin)
        let first = try #require(cron.next(after: Self.date("2025-10-26 00:00", Self.utc)))
        #expect(first == Self.date("2025-10-26 00:30", Self.utc))
        let second = try #require(cron.next(after: first))
        #expect(second == Self.date("2025-10-27 01:30", Self.utc))  // 02:30 CET the next day
    }

    @Test func dailyTimesKeepTheirWallClockAcrossDST() throws {
        let cron = try CronSchedule("0 9 * * *", timeZone: Self.newYork)
        let before = try #require(cron.next(after: Self.date("2025-03-08 15:00", Self.utc)))
        #expect(before == Self.date("2025-03-09 13:00", Self.utc))  // 09:00 EDT (UTC-4) on the change day
        let after = try #require(cron.next(after: before))
        #expect(after == Self.date("2025-03-10 13:00", Self.utc))
        let winter = try #require(cron.next(after: Self.date("2025-11-02 00:00", Self.utc)))
        #expect(winter == Self.date("2025-11-02 14:00", Self.utc))  // 09:00 EST (UTC-5)
    }

    @Test(arguments: [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("* * * 13 *", "month: 13 is out of range 1-12"),
        ("* * * * funday", "day-of-week: expected a number or a name, got 'funday'"),
        ("*/0 * * * *", "minute: step must be a positive integer"),
        ("5-1 * * * *", "minute: range '5-1' runs backwards"),
        ("0 0 30 feb *", "never meet"),
        ("1,,2 * * * *", "minute: empty list item"),
    ])
    func invalidExpressionsSayWhatIsWrong(expression: String, message: String) {
        #expect(throws: CommandError.self) { try CronSchedule(expression) }
        do {
            _ = try CronSchedule(expression)
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
