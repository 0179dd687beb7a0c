import AsyncHTTPClient
import CoreMetrics
import Foundation
import Hub
import IMProtocol
import Logging
import NIOCore
import NIOHTTP1

/// The push bridge: takes JPush v3 pushes, resolves their audience to accounts (possibly of another AppKey) and
/// has a robot deliver one IM message per account into its inbox, so it waits offline and never reaches whoever
/// holds the device next. Receipts come from the accounts' acknowledgements; unreceived messages escalate.
///
/// ```swift
/// let bridge = try await Bridge(configuration: .init(rules: [rule]), hub: hub,
///                               store: SQLiteBridgeStore(path: "bridge.sqlite"))
/// let sent = try await bridge.push(PushRequest(json: body), appKey: "shop")   // durable, delivered
/// _ = await bridge.runDue()                                                    // receipts and escalations
/// ```
public final class Bridge: Sendable {
    /// The bridge's part of `bots.yaml`: its rules and the `/v3` rate limit.
    public struct Configuration: Sendable, Equatable {
        /// The rules, at most one per pushing AppKey.
        public var rules: [BridgeRule]
        /// The per-AppKey token bucket of the `/v3` API.
        public var rateLimit: RateLimit

        /// Creates a configuration; no rules and 600 requests per minute by default.
        public init(rules: [BridgeRule] = [], rateLimit: RateLimit = RateLimit()) {
            self.rules = rules
            self.rateLimit = rateLimit
        }
    }

    /// A rule whose robot cannot be used, with the rule's index and the offending field.
    public struct SetupError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The rule's index in `rules`.
        public var ruleIndex: Int
        /// The field, such as `robot` or `receipt.escalate[1].fallback.robot`.
        public var field: String
        /// What is wrong.
        public var message: String

        /// `rules[i].field: message`.
        public var description: String { "rules[\(ruleIndex)].\(field): \(message)" }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The hub the messages go into.
    public let hub: Hub
    /// The bridge's durable state.
    public let store: any BridgeStore
    let rulesByAppKey: [String: BridgeRule]
    let rulesByName: [String: BridgeRule]
    let robots: [String: User]
    let httpClient: HTTPClient
    let logger: Logger
    let metrics: BridgeMetrics

    /// How long a claimed deadline stays with the node that claimed it before another may take it over.
    static let leaseMillis: Int64 = 60_000

    /// Opens the bridge: makes sure every robot the rules name exists as a robot account (creating missing ones
    /// with a random password; a configured bot keeps its own).
    public init(configuration: Configuration, hub: Hub, store: any BridgeStore, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "mynah.bridge"),
                metrics: any MetricsFactory = MetricsSystem.factory) async throws(SetupError) {
        self.metrics = BridgeMetrics(factory: metrics)
        self.configuration = configuration
        self.hub = hub
        self.store = store
        self.httpClient = httpClient
        self.logger = logger
        rulesByAppKey = Dictionary(configuration.rules.map { ($0.pushAppKey, $0) }, uniquingKeysWith: { first, _ in first })
        rulesByName = Dictionary(configuration.rules.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var robots: [String: User] = [:]
        for (index, rule) in configuration.rules.enumerated() {
            var wanted = [("robot", rule.robot)]
            for (i, step) in (rule.receipt?.escalate ?? []).enumerated() {
                if case .fallback(let target) = step, let robot = target.robot {
                    wanted.append(("receipt.escalate[\(i)].fallback.robot", robot))
                }
            }
            for (field, username) in wanted where robots[Self.key(rule.accountsAppKey, username)] == nil {
                do {
                    robots[Self.key(rule.accountsAppKey, username)] = try await Self.robot(hub, rule.accountsAppKey, username)
                } catch {
                    throw SetupError(ruleIndex: index, field: field, message: error.message)
                }
            }
        }
        self.robots = robots
    }

    static func key(_ appKey: String, _ username: String) -> String { "\(appKey)\u{0}\(username)" }

    static func robot(_ hub: Hub, _ appKey: String, _ username: String) async throws(HubError) -> User {
        do throws(HubError) {
            let user = try await hub.user(appKey: appKey, username: username)
            guard user.kind == .robot else {
                throw HubError(.userExists, "'\(username)' is a \(user.kind.rawValue) of app \(appKey), not a robot")
            }
            return user
        } catch let e where e.code == .userNotFound {
            return try await hub.register(appKey: appKey, NewUser(username: username, password: UUID().uuidString),
                                          kind: .robot)
        }
    }

    /// The rule for pushes of an AppKey.
    public func rule(pushAppKey: String) -> BridgeRule? { rulesByAppKey[pushAppKey] }

    /// Runs a store call; a failure is logged and becomes 1000.
    func storing<T>(_ body: () async throws -> T) async throws(BridgeError) -> T {
        do {
            return try await body()
        } catch let e as BridgeError {
            throw e
        } catch {
            logger.error("bridge storage failure", metadata: ["error": "\(error)"])
            throw .internalError
        }
    }

    // MARK: Pushing

    /// What a successful push answers: its `msg_id` and the caller's `sendno`.
    public struct PushAccepted: Sendable, Equatable {
        /// The push's `msg_id` (0 for a validation).
        public var msgID: Int64
        /// The caller's `sendno`.
        public var sendno: String
    }

    /// Resolves, records (durably, before returning) and delivers a push; with `validateOnly` it only checks
    /// that it would reach someone. A `cid` seen before returns the earlier push and sends nothing.
    public func push(_ request: PushRequest, appKey: String, validateOnly: Bool = false)
        async throws(BridgeError) -> PushAccepted {
        guard let rule = rulesByAppKey[appKey] else { throw .noRule(appKey) }
        if request.callback != nil && !store.keepsReceiptCallbacks {
            throw .unsupported("callback", "receipt callbacks need a store that keeps them")
        }
        if !validateOnly, let cid = request.cid,
           let earlier = try await storing({ try await store.push(appKey: appKey, cid: cid) }) {
            return PushAccepted(msgID: earlier.msgID, sendno: earlier.push.sendno)
        }
        var deliveries = try await resolve(request.audience, appKey: appKey, rule: rule)
        guard !deliveries.isEmpty else { throw .noTarget }
        if validateOnly { return PushAccepted(msgID: 0, sendno: request.sendno) }
        let now = hub.now()
        if let receipt = rule.receipt, !receipt.escalate.isEmpty {
            let due = now + receipt.within.wholeMilliseconds
            for i in deliveries.indices { deliveries[i].dueAt = due }
        }
        var push = NewPush(appKey: appKey, cid: request.cid, sendno: request.sendno, rule: rule.name,
                           content: request.content, createdAt: now, timeToLive: request.timeToLive)
        push.callback = request.callback
        let (record, duplicate) = try await storing { try await store.recordPush(push, deliveries: deliveries) }
        if !duplicate {
            metrics.accepted(rule: rule.name)
            // The deliveries just recorded, as the store lists them (by account id), without reading them back.
            let recorded = deliveries.sorted { $0.userID < $1.userID }.map { d in
                DeliveryRecord(pushID: record.msgID, userID: d.userID, appKey: d.appKey, username: d.username,
                               alias: d.alias, status: .pending, hubMsgID: nil, seq: nil, expiresAt: nil, outcomeAt: nil,
                               step: 0, dueAt: d.dueAt, error: nil)
            }
            for delivery in recorded { await deliver(record, delivery, rule: rule) }
        }
        return PushAccepted(msgID: record.msgID, sendno: record.push.sendno)
    }

    /// The accounts an audience stands for, one delivery each, with the devices that stood for them.
    public func resolve(_ audience: Audience, appKey: String, rule: BridgeRule) async throws(BridgeError) -> [NewDelivery] {
        // alias -> the devices through which it was reached
        var aliases: [(alias: String, rids: [String])] = []
        func add(_ alias: String, _ rid: String?) {
            if let i = aliases.firstIndex(where: { $0.alias == alias }) {
                if let rid, !aliases[i].rids.contains(rid) { aliases[i].rids.append(rid) }
            } else {
                aliases.append((alias, rid.map { [$0] } ?? []))
            }
        }
        switch audience {
        case .all:
            for d in try await storing({ try await store.aliasedDevices(appKey: appKey) }) { add(d.alias, d.registrationID) }
            if rule.alias == .table {
                for b in try await storing({ try await store.bindings(appKey: appKey) }) { add(b.alias, nil) }
            }
        case .filter(let f):
            let narrowsDevices = f.registrationID != nil || f.tag != nil || f.tagAnd != nil || f.tagNot != nil
            if let list = f.alias, !narrowsDevices {
                // Account-level: an alias reaches its account whether or not a device holds it now.
                for alias in list {
                    add(alias, nil)
                    for rid in try await storing({ try await store.registrationIDs(appKey: appKey, alias: alias) }) {
                        add(alias, rid)
                    }
                }
            } else {
                var devices: Set<String>? = f.registrationID.map(Set.init)
                func narrow(_ set: Set<String>) { devices = devices.map { $0.intersection(set) } ?? set }
                if let tags = f.tag {
                    var union = Set<String>()
                    for tag in tags {
                        union.formUnion(try await storing { try await store.registrationIDs(appKey: appKey, tag: tag) })
                    }
                    narrow(union)
                }
                for tag in f.tagAnd ?? [] {
                    narrow(Set(try await storing { try await store.registrationIDs(appKey: appKey, tag: tag) }))
                }
                if let list = f.alias {
                    var holders = Set<String>()
                    for alias in list {
                        holders.formUnion(try await storing { try await store.registrationIDs(appKey: appKey, alias: alias) })
                    }
                    narrow(holders)
                }
                var chosen = devices ?? []
                for tag in f.tagNot ?? [] {
                    chosen.subtract(try await storing { try await store.registrationIDs(appKey: appKey, tag: tag) })
                }
                let bound = try await storing { try await store.aliases(appKey: appKey, registrationIDs: chosen.sorted()) }
                for rid in chosen.sorted() { if let alias = bound[rid] { add(alias, rid) } }
            }
        }
        var result: [NewDelivery] = []
        for (alias, rids) in aliases {
            let username: String?
            switch rule.alias {
            case .table: username = try await storing { try await store.binding(appKey: appKey, alias: alias) }
            default: username = rule.alias.username(forAlias: alias)
            }
            guard let username else { continue }
            let user: User
            do throws(HubError) {
                user = try await hub.user(appKey: rule.accountsAppKey, username: username)
            } catch let e where e.code == .userNotFound {
                continue
            } catch {
                throw .internalError
            }
            if let i = result.firstIndex(where: { $0.userID == user.id }) {
                result[i].registrationIDs += rids.filter { !result[i].registrationIDs.contains($0) }
            } else {
                result.append(NewDelivery(userID: user.id, appKey: user.appKey, username: user.username, alias: alias,
                                          registrationIDs: rids, dueAt: nil))
            }
        }
        return result
    }

    /// Hands one recorded delivery to the hub (again, after a crash: the request id makes it happen once).
    func deliver(_ push: PushRecord, _ delivery: DeliveryRecord, rule: BridgeRule) async {
        let ttl = push.push.timeToLive
        let expiresAt: Int64? = ttl > 0 ? push.push.createdAt + ttl * 1000 : nil
        do {
            let (hubMsgID, seq) = try await send(push, to: delivery, rule: rule,
                                                 requestID: "push:\(push.msgID):\(delivery.userID)", onlineOnly: ttl == 0,
                                                 expiresAt: expiresAt)
            // Not awaited until durable: the message is in the hub, and a status lost in a crash leaves the delivery
            // pending, which `recover()` redoes once (the request id). The push's answer waits for one commit less.
            await store.queueDelivered(pushID: push.msgID, userID: delivery.userID, status: seq == nil ? .expired : .delivered,
                                       hubMsgID: hubMsgID, seq: seq, expiresAt: expiresAt,
                                       error: seq == nil ? Self.notKeptOffline : nil) { [logger] error in
                logger.error("bridged delivery's status not recorded; redone at the next start",
                             metadata: ["msg_id": "\(push.msgID)", "error": "\(error)"])
            }
            metrics.delivered(seq != nil)
            if seq == nil {
                try await store.setOutcome(pushID: push.msgID, userID: delivery.userID, status: .expired, at: hub.now())
            }
        } catch let e as HubError {
            logger.warning("bridged delivery refused", metadata: ["msg_id": "\(push.msgID)", "user": "\(delivery.username)",
                                                                   "error": "\(e)"])
            try? await store.setDelivered(pushID: push.msgID, userID: delivery.userID, status: .failed, hubMsgID: nil,
                                          seq: nil, expiresAt: expiresAt, error: e.message)
        } catch {
            // The delivery stays pending; `recover()` redoes it.
            logger.error("bridged delivery not recorded", metadata: ["msg_id": "\(push.msgID)", "error": "\(error)"])
        }
    }

    /// Sends the push's message to one account from the rule's robot, its inbox entry expiring at `expiresAt` (nil:
    /// the app's offline TTL); returns the hub's msg_id and the inbox seq (nil when no entry was kept).
    func send(_ push: PushRecord, to delivery: DeliveryRecord, rule: BridgeRule, requestID: String, onlineOnly: Bool,
              expiresAt: Int64?) async throws(HubError) -> (Int64, Int64?) {
        guard let robot = robots[Self.key(rule.accountsAppKey, rule.robot)] else {
            throw HubError(.internalError, "robot \(rule.robot) is not set up")
        }
        let body = Self.body(rule.message, push: push, username: delivery.username, alias: delivery.alias)
        let draft = ClientFrame.Send(requestID: requestID, targetType: .single, targetID: delivery.username, body: body,
                                     noOffline: onlineOnly)
        // The expiry is written with the entry, in the message's own transaction.
        let appended = try await hub.sendSingle(draft, from: robot, platform: "api", expiresAt: expiresAt)
        if !appended.duplicate {
            return (appended.stored.msgID, appended.entries.first(where: { $0.userID == delivery.userID })?.seq)
        }
        // A delivery redone after a crash: the entry was stored the first time; find it and give it its expiry.
        let seq = try await hub.inboxSeq(userID: delivery.userID, msgID: appended.stored.msgID)
        if let seq, let expiresAt {
            try await hub.setInboxExpiry(userID: delivery.userID, seq: seq, expiresAt: expiresAt)
        }
        return (appended.stored.msgID, seq)
    }

    /// The bridged message body for one account, as the rule's message mapping says.
    public static func body(_ mapping: MessageMapping, push: PushRecord, username: String, alias: String?) -> MessageBody {
        let c = push.push.content
        var extras = c.extras
        extras["jpush_msg_id"] = .string(String(push.msgID))
        switch mapping {
        case .text:
            return .text(c.alert ?? c.msgContent ?? c.title ?? "", extras: extras)
        case .custom:
            var o: [String: JSONValue] = ["msg_id": .string(String(push.msgID)), "extras": .object(c.extras)]
            if let v = c.alert { o["alert"] = .string(v) }
            if let v = c.title { o["title"] = .string(v) }
            if let v = c.msgContent { o["msg_content"] = .string(v) }
            if let v = c.contentType { o["content_type"] = .string(v) }
            return .custom(o)
        case .template(let template):
            var values = ["msg_id": String(push.msgID), "sendno": push.push.sendno, "username": username]
            values["alert"] = c.alert
            values["title"] = c.title
            values["msg_content"] = c.msgContent
            values["alias"] = alias
            return .text(template.render(values, extras: c.extras), extras: extras)
        }
    }

    /// Delivers what a crash left recorded but undelivered; run once at start, before serving.
    @discardableResult
    public func recover() async throws(BridgeError) -> Int {
        let pending = try await storing { try await store.pendingDeliveries() }
        for delivery in pending {
            guard let push = try await storing({ try await store.push(msgID: delivery.pushID) }),
                  let rule = rulesByName[push.push.rule] else { continue }
            await deliver(push, delivery, rule: rule)
        }
        if !pending.isEmpty { logger.info("bridged deliveries recovered", metadata: ["count": "\(pending.count)"]) }
        return pending.count
    }

    // MARK: Receipts

    /// Brings a delivery's status up to date: received once a device of the account acknowledged its inbox entry,
    /// expired once its time to live ended unreceived.
    func refresh(_ d: DeliveryRecord) async throws -> DeliveryRecord {
        guard d.status == .delivered, let seq = d.seq else { return d }
        var d = d
        let now = hub.now()
        if try await hub.highestAcknowledged(userID: d.userID) >= seq {
            d.status = .received
        } else if let expiresAt = d.expiresAt, now >= expiresAt {
            d.status = .expired
        } else {
            return d
        }
        d.outcomeAt = now
        try await store.setOutcome(pushID: d.pushID, userID: d.userID, status: d.status, at: now)
        return d
    }

    /// A push's deliveries with their receipts brought up to date.
    public func deliveries(msgID: Int64) async throws(BridgeError) -> [DeliveryRecord] {
        try await storing {
            var out: [DeliveryRecord] = []
            for d in try await store.deliveries(pushID: msgID) { out.append(try await refresh(d)) }
            return out
        }
    }

    /// A push of an AppKey, or 3005.
    public func push(msgID: Int64, appKey: String) async throws(BridgeError) -> PushRecord {
        guard let push = try await storing({ try await store.push(msgID: msgID) }), push.push.appKey == appKey else {
            throw .unknownMessage(msgID)
        }
        return push
    }

    // MARK: Deadlines and escalation

    /// What one pass of `runDue` did.
    public struct Pass: Sendable, Equatable {
        /// Deadlines that found their message received: nothing to do.
        public var satisfied = 0
        /// Deliveries found expired undelivered.
        public var expired = 0
        /// The escalation steps that ran.
        public var escalations: [EscalationRecord] = []
    }

    /// Checks the deadlines that passed and the TTLs that ended: records receipts and expiries and runs the
    /// rules' escalation steps for what was not received. Safe to run on several nodes at once (claims).
    @discardableResult
    public func runDue(limit: Int = 100) async -> Pass {
        var pass = Pass()
        let now = hub.now()
        do {
            for d in try await store.expiredUnreceived(now: now, limit: limit) {
                if try await refresh(d).status == .expired { pass.expired += 1 }
            }
            let claimed = try await store.claimDue(now: now, leaseUntil: now + Self.leaseMillis, limit: limit)
            for d in claimed {
                try await handleDue(d, now: now, pass: &pass)
            }
        } catch {
            logger.error("bridge deadline pass failed", metadata: ["error": "\(error)"])
        }
        return pass
    }

    func handleDue(_ claimed: DeliveryRecord, now: Int64, pass: inout Pass) async throws {
        let d = try await refresh(claimed)
        guard let push = try await store.push(msgID: d.pushID), let rule = rulesByName[push.push.rule],
              let receipt = rule.receipt, d.step < receipt.escalate.count, d.status != .received
        else {
            if d.status == .received { pass.satisfied += 1 }
            try await store.schedule(pushID: d.pushID, userID: d.userID, step: d.step, dueAt: nil)
            return
        }
        if d.status == .pending {
            // Still on its way into the hub: look again after another `within`.
            try await store.schedule(pushID: d.pushID, userID: d.userID, step: d.step,
                                     dueAt: now + receipt.within.wholeMilliseconds)
            return
        }
        let step = receipt.escalate[d.step]
        let outcome = await escalate(step, index: d.step, push: push, delivery: d, rule: rule)
        let record = EscalationRecord(pushID: d.pushID, userID: d.userID, step: d.step, action: step.name, at: now,
                                      outcome: outcome)
        try await store.recordEscalation(record)
        metrics.escalated(action: step.name)
        pass.escalations.append(record)
        let next = d.step + 1
        try await store.schedule(pushID: d.pushID, userID: d.userID, step: next,
                                 dueAt: next < receipt.escalate.count ? now + receipt.within.wholeMilliseconds : nil)
        logger.notice("bridged message not received; escalated",
                      metadata: ["msg_id": "\(d.pushID)", "user": "\(d.username)", "step": "\(step.name)", "outcome": "\(outcome)"])
    }

    /// Runs one escalation step; returns `ok` or what went wrong.
    func escalate(_ step: EscalationStep, index: Int, push: PushRecord, delivery d: DeliveryRecord, rule: BridgeRule) async -> String {
        switch step {
        case .resend:
            do {
                let ttl = push.push.timeToLive
                let expiresAt: Int64? = ttl > 0 ? hub.now() + ttl * 1000 : nil
                let (_, seq) = try await send(push, to: d, rule: rule, requestID: "push:\(push.msgID):\(d.userID):resend\(index)",
                                              onlineOnly: ttl == 0, expiresAt: expiresAt)
                if let seq, let expiresAt {
                    if d.status == .expired || d.seq == nil {
                        // The first copy is gone: the receipt now counts for the resent one.
                        try await store.rebase(pushID: d.pushID, userID: d.userID, seq: seq, expiresAt: expiresAt)
                    }
                }
                return seq == nil ? "not delivered: \(Self.notKeptOffline)" : "ok"
            } catch {
                return "failed: \(error)"
            }
        case .fallback(let target):
            let robotName = target.robot ?? rule.robot
            guard let robot = robots[Self.key(rule.accountsAppKey, robotName)] else { return "failed: no robot \(robotName)" }
            let text = "Not received within \(Self.describe(rule.receipt?.within ?? .zero)): push \(push.msgID) to "
                + "\(d.username)\(d.alias.map { " (alias \($0))" } ?? ""): \(Self.summary(push.push.content))"
            let draft = ClientFrame.Send(
                requestID: "escalate:\(push.msgID):\(d.userID):\(index)",
                targetType: target.kind == .group ? .group : .single, targetID: target.id,
                body: .text(text, extras: ["jpush_msg_id": .string(String(push.msgID)), "username": .string(d.username)]))
            do {
                _ = try await hub.send(draft, from: robot, platform: "api")
                return "ok"
            } catch {
                return "failed: \(error)"
            }
        case .webhook(let url):
            let notice: JSONValue = [
                "id": .string("escalate:\(push.msgID):\(d.userID):\(index)"),
                "event": "not_received", "rule": .string(rule.name), "msg_id": .int(push.msgID),
                "sendno": .string(push.push.sendno), "appkey": .string(push.push.appKey),
                "accounts_appkey": .string(d.appKey), "username": .string(d.username),
                "alias": d.alias.map(JSONValue.string) ?? .null, "status": .string(d.status.rawValue),
                "step": .int(Int64(index)), "pushed_at": .int(push.push.createdAt), "content": push.push.content.json,
            ]
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(notice.serialized())
                let response = try await httpClient.execute(request, timeout: .seconds(10))
                guard (200..<300).contains(response.status.code) else { return "failed: HTTP \(response.status.code)" }
                return "ok"
            } catch {
                return "failed: \(error)"
            }
        }
    }

    static let notKeptOffline = "the account was offline and nothing waits offline (time_to_live 0, or offline_messages: false)"

    static func summary(_ c: PushContent) -> String {
        let text = c.alert ?? c.msgContent ?? c.title ?? ""
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    static func describe(_ d: Duration) -> String {
        let s = d.components.seconds
        if s % 86400 == 0 { return "\(s / 86400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
