import BotKit
import Foundation

/// Scheduled messages: one-off reminders set with `/remind`, kept in the plugin's durable data so that they
/// survive a restart (one due while the daemon was down fires when it starts), and recurring ones from cron
/// expressions in the configuration.
///
/// ```yaml
/// - swift: reminder
///   config:
///     time_zone: Europe/Berlin
///     recurring:
///       - { cron: "0 9 * * mon-fri", to: { type: single, id: alice }, text: "Stand-up in 5 minutes" }
/// ```
public struct Reminder: Plugin {
    /// A recurring message.
    public struct Recurring: Sendable, Hashable {
        /// When it is sent.
        public var cron: CronSchedule
        /// Where it goes.
        public var to: Conversation
        /// What it says.
        public var text: String
    }

    /// `swift: reminder` in `bots.yaml`.
    public static let pluginName = "reminder"
    /// The zone of `HH:MM` times and recurring schedules (`time_zone`, default UTC).
    public var timeZone: TimeZone
    /// The recurring messages (`recurring`).
    public var recurring: [Recurring]
    /// The roles that may set reminders (`roles`, default everyone).
    public var roles: [String]

    /// Reads `time_zone` and `recurring`.
    public init(configuration: JSONValue) throws(ProtocolError) {
        guard case .object(let o) = configuration else {
            throw ProtocolError(path: "", reason: "expected a mapping, got \(configuration.typeName)")
        }
        for key in o.keys where !["time_zone", "recurring", "roles"].contains(key) {
            throw ProtocolError(path: key, reason: "unknown key; reminder takes time_zone, recurring and roles")
        }
        roles = []
        if let list = o["roles"] {
            guard case .array(let items) = list, items.allSatisfy({ $0.stringValue != nil }) else {
                throw ProtocolError(path: "roles", reason: "expected a list of role names")
            }
            roles = items.compactMap(\.stringValue)
        }
        timeZone = .gmt
        if let zone = o["time_zone"] {
            guard let name = zone.stringValue, let tz = TimeZone(identifier: name) else {
                throw ProtocolError(path: "time_zone", reason: "expected an IANA time zone such as Europe/Berlin")
            }
            timeZone = tz
        }
        recurring = []
        if let list = o["recurring"] {
            guard case .array(let items) = list else {
                throw ProtocolError(path: "recurring", reason: "expected a list, got \(list.typeName)")
            }
            for (i, item) in items.enumerated() {
                let path = "recurring[\(i)]"
                guard case .object(let r) = item else { throw ProtocolError(path: path, reason: "expected a mapping") }
                for key in r.keys where !["cron", "to", "text"].contains(key) {
                    throw ProtocolError(path: "\(path).\(key)", reason: "unknown key; expected cron, to and text")
                }
                guard let expression = r["cron"]?.stringValue else {
                    throw ProtocolError(path: "\(path).cron", reason: "expected a cron expression")
                }
                let cron: CronSchedule
                do {
                    cron = try CronSchedule(expression, timeZone: timeZone)
                } catch {
                    throw ProtocolError(path: "\(path).cron", reason: error.message)
                }
                guard let to = r["to"] else { throw ProtocolError(path: "\(path).to", reason: "required") }
                guard let text = r["text"]?.stringValue, !text.isEmpty else {
                    throw ProtocolError(path: "\(path).text", reason: "expected a non-empty string")
                }
                recurring.append(Recurring(cron: cron, to: try Conversation(json: to, path: "\(path).to"), text: text))
            }
        }
    }

    /// `remind <when> <text...>` and `reminders`.
    public var commands: [CommandSpec] {
        [CommandSpec(name: "remind", arguments: [.init(name: "when"), .init(name: "text", kind: .rest)],
                     help: "Remind this conversation: when is 10m, 2h, 1d or HH:MM", roles: roles),
         CommandSpec(name: "reminders", help: "List this conversation's pending reminders")]
    }

    /// A check for due reminders every minute, and one schedule per recurring message.
    public var schedules: [Schedule] {
        [Schedule(name: "due", cron: try! CronSchedule("* * * * *", timeZone: timeZone))]
            + recurring.enumerated().map { Schedule(name: "recurring-\($0.offset)", cron: $0.element.cron) }
    }

    /// Sets, lists and fires reminders.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        switch event {
        case .started:
            return try await due(context: context)
        case .tick(let tick):
            if tick.schedule == "due" { return try await due(context: context) }
            guard tick.schedule.hasPrefix("recurring-"), let i = Int(tick.schedule.dropFirst(10)),
                  recurring.indices.contains(i)
            else { return [] }
            return [.send(to: recurring[i].to, body: .text(recurring[i].text))]
        case .message(let m):
            guard let command = m.command else { return [] }
            let now = context.clock.now()
            if command.name == "reminders" {
                let mine = try await context.store.entries(prefix: "r/").filter {
                    (try? Conversation(json: $0.value["to"] ?? .null, path: "")) == m.conversation
                }
                guard !mine.isEmpty else { return [.reply(.text("no pending reminders"))] }
                let lines = mine.map { "\(Self.format($0.value["due"]?.intValue ?? 0, in: timeZone)): "
                    + ($0.value["text"]?.stringValue ?? "") }
                return [.reply(.text(lines.joined(separator: "\n")))]
            }
            guard command.name == "remind", let when = command.string("when"), let text = command.string("text"),
                  !text.isEmpty
            else { return [] }
            guard let dueAt = Self.dueTime(when, now: now, timeZone: timeZone) else {
                return [.reply(.text("cannot read '\(when)'; use 10m, 2h, 1d or HH:MM"))]
            }
            let key = Self.key(due: dueAt) + "/\(m.stored.msgID)"
            let record: JSONValue = ["due": .int(dueAt), "to": m.conversation.json, "text": .string(text),
                                     "by": .string(m.sender)]
            return [.store(key: key, value: record),
                    .reply(.text("ok, I will remind you at \(Self.format(dueAt, in: timeZone))"))]
        case .membersJoined, .membersLeft:
            return []
        }
    }

    /// Sends every reminder that is due and deletes it once its message is stored. Each due reminder is claimed
    /// first (of several nodes running the bot at once, one gets it), and its message carries the reminder's key
    /// as request id: one sent by a node that died before deleting it is claimed again a minute later and sent
    /// again with the same id, which the hub stores once.
    func due(context: PluginContext) async throws -> [BotAction] {
        let now = context.clock.now()
        var actions: [BotAction] = []
        // Keys are `r/<due, 15 digits>/<msg_id>`: those before `r/<now + 1>` are due.
        for entry in try await context.store.claim(prefix: "r/", before: Self.key(due: now + 1), now: now) {
            guard let to = try? Conversation(json: entry.value["to"] ?? .null, path: "to") else {
                actions.append(.store(key: entry.key, value: .null))
                continue
            }
            actions.append(.send(to: to, body: .text("⏰ " + (entry.value["text"]?.stringValue ?? "")),
                                 requestID: entry.key))
            actions.append(.store(key: entry.key, value: .null))
        }
        return actions
    }

    /// The start of the keys of reminders due at `millis`.
    static func key(due millis: Int64) -> String {
        "r/" + String(repeating: "0", count: max(0, 15 - String(millis).count)) + "\(millis)"
    }

    /// The due time of `10m`, `2h`, `1d` or `HH:MM` (today, or tomorrow if already past) in milliseconds.
    static func dueTime(_ when: String, now: Int64, timeZone: TimeZone) -> Int64? {
        let units: [Character: Int64] = ["m": 60_000, "h": 3_600_000, "d": 86_400_000]
        if let unit = when.last.flatMap({ units[$0] }), let n = Int64(when.dropLast()), n > 0, n < 100_000 {
            return now + n * unit
        }
        let parts = when.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        guard let cron = try? CronSchedule("\(m) \(h) * * *", timeZone: timeZone),
              let next = cron.next(after: Date(timeIntervalSince1970: Double(now) / 1000))
        else { return nil }
        return Int64(next.timeIntervalSince1970 * 1000)
    }

    static func format(_ millis: Int64, in timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) + " \(timeZone.identifier)"
    }
}
