import Bridge
import HTTPTypes
import Hummingbird
import IMProtocol

extension ConsoleAPI {
    /// GET /console/api/bridge: the bridge's rules for the apps this session manages (its pushes, bindings and
    /// receipts are the JPush API's, through the REST forwarding).
    func bridgeRules(_ request: Request) throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let rules = (bridge?.configuration.rules ?? []).filter {
            session.principal.manages($0.pushAppKey) || session.principal.manages($0.accountsAppKey)
        }
        return json(.ok, ["rules": .array(rules.map(Self.ruleJSON))])
    }

    static func ruleJSON(_ rule: BridgeRule) -> JSONValue {
        let alias: String = switch rule.alias {
        case .equal: "equal"
        case .table: "table"
        case .template(let prefix, let suffix): "\(prefix){username}\(suffix)"
        }
        let message: String = switch rule.message {
        case .text: "text"
        case .custom: "custom"
        case .template: "template"
        }
        var o: [String: JSONValue] = [
            "name": .string(rule.name), "push_appkey": .string(rule.pushAppKey),
            "accounts_appkey": .string(rule.accountsAppKey), "alias": .string(alias), "robot": .string(rule.robot),
            "message": .string(message),
        ]
        if let receipt = rule.receipt {
            o["receipt_within_seconds"] = .int(receipt.within.components.seconds)
            o["escalate"] = .array(receipt.escalate.map { .string($0.name) })
        }
        return .object(o)
    }
}

extension ConsoleAPI {
    /// GET /console/api/apps/{appkey}/bridge/pushes?count=N: the app's latest pushes (newest first) with each
    /// account's receipt state and the escalations that ran, and the deliveries still waiting for a receipt with their
    /// deadlines. Without a bridge: empty lists.
    func recentPushes(_ request: Request, _ context: Context) async throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let appKey = try context.pathParameter("appkey")
        guard session.principal.manages(appKey) else { throw Self.notYourApp(appKey) }
        let count = try request.uri.queryParameters["count"].map { text -> Int in
            guard let n = Int(text), (1...100).contains(n) else {
                throw APIError(.invalidParameter, "count: expected an integer from 1 to 100, got '\(text)'")
            }
            return n
        } ?? 20
        guard let bridge else { return json(.ok, ["pushes": [], "open": []]) }
        let reports: [Bridge.PushReport]
        let open: [DeliveryRecord]
        do {
            reports = try await bridge.recentPushes(appKey: appKey, limit: count)
            open = try await bridge.openDeliveries(appKey: appKey)
        } catch {
            throw APIError(.internalError, "the bridge's store failed: \(error)", status: .internalServerError)
        }
        return json(.ok, [
            "pushes": .array(reports.map(Self.pushJSON)),
            "open": .array(open.map(Self.deliveryJSON)),
        ])
    }

    static func pushJSON(_ report: Bridge.PushReport) -> JSONValue {
        let content = report.push.push.content
        let names = Dictionary(report.deliveries.map { ($0.userID, $0.username) }, uniquingKeysWith: { a, _ in a })
        return [
            "msg_id": .int(report.push.msgID), "sendno": .string(report.push.push.sendno),
            "rule": .string(report.push.push.rule), "ctime": .string(WireTime.format(millis: report.push.push.createdAt)),
            "text": .string(content.alert ?? content.msgContent ?? content.title ?? ""),
            "deliveries": .array(report.deliveries.map(deliveryJSON)),
            "escalations": .array(report.escalations.map { e in
                ["username": .string(names[e.userID] ?? String(e.userID)), "step": .int(Int64(e.step)),
                 "action": .string(e.action), "at": .string(WireTime.format(millis: e.at)), "outcome": .string(e.outcome)]
            }),
        ]
    }

    static func deliveryJSON(_ d: DeliveryRecord) -> JSONValue {
        [
            "msg_id": .int(d.pushID), "username": .string(d.username), "alias": d.alias.map(JSONValue.string) ?? .null,
            "status": .string(d.status.rawValue), "step": .int(Int64(d.step)),
            "due_at": d.dueAt.map { .string(WireTime.format(millis: $0)) } ?? .null,
            "error": d.error.map(JSONValue.string) ?? .null,
        ]
    }
}
