import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`) in a time zone.
///
/// Fields take `*`, numbers, lists (`1,15`), ranges (`1-5`), steps (`*/15`, `8-18/2`, `5/20`) and names
/// (`jan`-`dec`, `sun`-`sat`; day-of-week `0` and `7` are both Sunday). When day-of-month and day-of-week are both
/// restricted, a day matching either fires (as in Vixie cron). Times are wall-clock times in `timeZone`: a time
/// that a DST change skips does not fire that day, and a time that occurs twice fires once, the first time.
///
/// ```swift
/// let cron = try CronSchedule("30 9 * * mon-fri", timeZone: TimeZone(identifier: "Europe/Berlin")!)
/// let next = cron.next(after: Date())
/// ```
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    /// The time zone the fields are read in.
    public let timeZone: TimeZone
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// Parses an expression; the error names the field and what is wrong with it.
    public init(_ expression: String, timeZone: TimeZone = .gmt) throws(CommandError) {
        let fields = expression.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw CommandError("expected 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)")
        }
        self.expression = expression
        self.timeZone = timeZone
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [:])
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [:])
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31, names: [:])
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        months = try Self.field(fields[3], name: "month", range: 1...12,
                                names: Dictionary(uniqueKeysWithValues: monthNames.enumerated().map { ($1, $0 + 1) }))
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        let dow = try Self.field(fields[4], name: "day-of-week", range: 0...7,
                                 names: Dictionary(uniqueKeysWithValues: dayNames.enumerated().map { ($1, $0) }))
        daysOfWeek = Set(dow.map { $0 == 7 ? 0 : $0 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        guard Self.canFire(daysOfMonth: daysOfMonth, months: months) || dayOfWeekRestricted else {
            throw CommandError("day-of-month and month never meet (such as 30 in February)")
        }
    }

    /// The expression and its time zone.
    public var description: String { "\(expression) (\(timeZone.identifier))" }

    /// The first time strictly after `date` (at a whole minute) that the schedule fires, or `nil` when it never
    /// does within eight years.
    public func next(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var candidate = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let limit = date.addingTimeInterval(8 * 366 * 86400)
        while candidate < limit {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: candidate)
            guard let year = c.year, let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute,
                  let weekday = c.weekday
            else { return nil }
            if !months.contains(month) {
                let first = calendar.date(from: DateComponents(year: year, month: month, day: 1))!
                candidate = calendar.date(byAdding: .month, value: 1, to: first)!
                continue
            }
            if !dayMatches(day: day, weekday: weekday - 1) {
                candidate = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: candidate))!
                continue
            }
            if !hours.contains(hour) {
                candidate = candidate.addingTimeInterval(Double(60 - minute) * 60)
                continue
            }
            guard minutes.contains(minute) else {
                let later = minutes.filter { $0 > minute }.min()
                candidate = candidate.addingTimeInterval(Double((later ?? 60) - minute) * 60)
                continue
            }
            if isRepeatedWallTime(candidate, calendar: calendar) {
                candidate = candidate.addingTimeInterval(60)
                continue
            }
            return candidate
        }
        return nil
    }

    /// Whether the wall-clock time of `date` already occurred earlier (the second pass after a DST fall-back).
    func isRepeatedWallTime(_ date: Date, calendar: Calendar) -> Bool {
        let shift = timeZone.secondsFromGMT(for: date.addingTimeInterval(-6 * 3600)) - timeZone.secondsFromGMT(for: date)
        guard shift > 0 else { return false }
        let earlier = date.addingTimeInterval(-Double(shift))
        let parts: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute]
        return calendar.dateComponents(parts, from: earlier) == calendar.dateComponents(parts, from: date)
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        let dom = daysOfMonth.contains(day)
        let dow = daysOfWeek.contains(weekday)
        if dayOfMonthRestricted && dayOfWeekRestricted { return dom || dow }
        return dom && dow
    }

    static func canFire(daysOfMonth: Set<Int>, months: Set<Int>) -> Bool {
        let longest = [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31]
        return months.contains { month in daysOfMonth.contains { $0 <= longest[month]! } }
    }

    /// The values one field selects.
    static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String: Int])
        throws(CommandError) -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw CommandError("\(name): empty list item in '\(text)'") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw CommandError("\(name): more than one '/' in '\(part)'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else {
                    throw CommandError("\(name): step must be a positive integer, got '\(pieces[1])'")
                }
                step = s
            }
            let lower: Int
            let upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else {
                let bounds = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw CommandError("\(name): bad range '\(pieces[0])'") }
                lower = try value(bounds[0], name: name, range: range, names: names)
                if bounds.count == 2 {
                    upper = try value(bounds[1], name: name, range: range, names: names)
                    guard lower <= upper else {
                        throw CommandError("\(name): range '\(pieces[0])' runs backwards")
                    }
                } else {
                    upper = pieces.count == 2 ? range.upperBound : lower
                }
            }
            values.formUnion(stride(from: lower, through: upper, by: step))
        }
        return values
    }

    static func value(_ text: Substring, name: String, range: ClosedRange<Int>, names: [String: Int])
        throws(CommandError) -> Int {
        if let named = names[text.lowercased()] { return named }
        guard let number = Int(text) else {
            throw CommandError("\(name): expected a number\(names.isEmpty ? "" : " or a name"), got '\(text)'")
        }
        guard range.contains(number) else {
            throw CommandError("\(name): \(number) is out of range \(range.lowerBound)-\(range.upperBound)")
        }
        return number
    }
}

/// A named cron schedule a plugin declares; each time it fires, the plugin gets a `tick` event.
public struct Schedule: Sendable, Hashable {
    /// The name the tick carries.
    public var name: String
    /// When it fires.
    public var cron: CronSchedule

    /// Creates a schedule.
    public init(name: String, cron: CronSchedule) {
        self.name = name
        self.cron = cron
    }
}
