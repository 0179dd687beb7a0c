// The cron parser (BotKit's CronSchedule). The first byte picks a time zone, the rest is the expression. An
// expression that parses must give, from a fixed instant, a next firing that is later, on a whole minute, within the
// eight years `next` looks at, and matching every field; and the firing after that one must be later still.
import Foundation
import FuzzSupport
@testable import Cron

let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham"]
    .compactMap(TimeZone.init(identifier:))
let start = Date(timeIntervalSince1970: 1_795_000_000.5)  // 2026-11-18, not on a minute

fuzzMain { raw in
    guard let first = raw.first else { return }
    let timeZone = zones[Int(first) % zones.count]
    let expression = String(decoding: UnsafeRawBufferPointer(rebasing: raw.dropFirst()), as: UTF8.self)
    guard let cron = try? CronSchedule(expression, timeZone: timeZone) else { return }
    check((try? CronSchedule(expression, timeZone: timeZone)) == cron, "parsing is not deterministic")
    guard let next = cron.next(after: start) else { return }
    check(next > start && next.timeIntervalSince(start) <= 8 * 366 * 86400, "next \(next) is not after \(start)")
    check(next.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0, "next \(next) is not on a minute")
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let c = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: next)
    check(cron.minutes.contains(c.minute!) && cron.hours.contains(c.hour!) && cron.months.contains(c.month!),
          "\(expression) fires at \(next), outside its fields")
    check(cron.dayMatches(day: c.day!, weekday: c.weekday! - 1), "\(expression) fires on a day it excludes: \(next)")
    if let after = cron.next(after: next) { check(after > next, "the firing after \(next) is \(after)") }
}
