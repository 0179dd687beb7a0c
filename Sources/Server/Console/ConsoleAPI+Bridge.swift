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
