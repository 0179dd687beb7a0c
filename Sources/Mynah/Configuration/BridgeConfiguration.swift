import Bridge
import Foundation
import Hub
import IMProtocol
import Yams

/// The `bridge:` section of `bots.yaml`: the bridge's rules and rate limit, with where each rule starts in the
/// file (for errors found when the daemon starts, such as a robot name that belongs to a user).
public struct BridgeSection: Sendable, Equatable {
    /// The bridge's configuration.
    public var configuration: Bridge.Configuration
    /// Where each rule starts, parallel to `configuration.rules`.
    public var ruleLocations: [SourceLocation]
    /// How push receipt callbacks are retried (`receipt_callbacks:`; docs/bridge.md).
    public var receiptCallbacks = MynahConfiguration.ReceiptCallbacks()

    /// Creates a section; no rules by default.
    public init(configuration: Bridge.Configuration = .init(), ruleLocations: [SourceLocation] = []) {
        self.configuration = configuration
        self.ruleLocations = ruleLocations
    }
}

extension ConfigurationReader {
    /// The keys of the bridge's mappings.
    enum BridgeKeys {
        static let section = ["rate_limit", "rules", "receipt_callbacks"]
        static let rateLimit = ["requests", "per"]
        static let rule = ["name", "push_appkey", "accounts_appkey", "alias", "robot", "message", "receipt"]
        static let receipt = ["within", "escalate"]
        static let step = ["resend", "fallback", "webhook"]
        static let fallback = ["type", "id", "robot"]
        static let webhook = ["url"]
    }

    /// Reads `bridge:`; absent or empty means no rules and the default rate limit.
    func bridge(_ field: Field?, apps: [MynahConfiguration.App]) throws(ConfigurationError) -> BridgeSection {
        var result = BridgeSection()
        guard let field, let section = try optionalSection(field, keys: BridgeKeys.section) else { return result }
        if let limitField = section["rate_limit"], let limit = try optionalSection(limitField, keys: BridgeKeys.rateLimit) {
            if let f = limit["requests"], let n = try integer(f) {
                guard (1...1_000_000).contains(n) else { throw error("expected 1 to 1000000 requests, got \(n)", at: f) }
                result.configuration.rateLimit.requests = n
            }
            if let f = limit["per"], let per = try duration(f) { result.configuration.rateLimit.per = per }
        }
        if let f = section["receipt_callbacks"] { result.receiptCallbacks = try receiptCallbacks(f) }
        guard let rulesField = section["rules"], let items = try optionalSequence(rulesField) else { return result }
        let appKeys = apps.map(\.appKey)
        var byName: [String: Int] = [:]
        var byAppKey: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let entry = try self.section(item, keys: BridgeKeys.rule)
            let (name, nameField) = try requiredString(entry, "name")
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isNameCharacter) else {
                throw error("expected one or more of the characters A-Z a-z 0-9 _ -, got \(quoted(name))", at: nameField)
            }
            if let previous = byName[name] {
                throw error("duplicate rule name \(quoted(name)); \(rulesField.path)[\(previous)] already has it", at: nameField)
            }
            byName[name] = index
            let (pushAppKey, pushField) = try requiredString(entry, "push_appkey")
            guard appKeys.contains(pushAppKey) else { throw error(unknownAppKeyMessage(pushAppKey, known: appKeys), at: pushField) }
            if let previous = byAppKey[pushAppKey] {
                throw error("\(rulesField.path)[\(previous)] already bridges pushes of \(quoted(pushAppKey)); one rule per appkey",
                            at: pushField)
            }
            byAppKey[pushAppKey] = index
            var accountsAppKey = pushAppKey
            if let f = entry["accounts_appkey"], let key = try string(f) {
                guard appKeys.contains(key) else { throw error(unknownAppKeyMessage(key, known: appKeys), at: f) }
                accountsAppKey = key
            }
            var alias = AliasMapping.equal
            if let f = entry["alias"], let text = try string(f) {
                guard let parsed = AliasMapping(parsing: text) else {
                    throw error("expected equal, table, or a template with {username} once such as 'uid_{username}', got \(quoted(text))",
                                at: f)
                }
                alias = parsed
            }
            let (robot, robotField) = try requiredString(entry, "robot")
            try validateUsername(robot, robotField)
            var message = MessageMapping.text
            if let f = entry["message"], let text = try string(f) {
                switch text {
                case "text": message = .text
                case "custom": message = .custom
                default:
                    do {
                        message = .template(try MessageTemplate(text))
                    } catch {
                        throw self.error("expected text, custom or a template: \(error.reason)", at: f)
                    }
                }
            }
            var receipt: ReceiptPolicy?
            if let f = entry["receipt"], let r = try optionalSection(f, keys: BridgeKeys.receipt) {
                let withinField = try required(r, "within")
                guard let within = try duration(withinField) else { throw mismatch(withinField, expected: "a duration") }
                receipt = ReceiptPolicy(within: within, escalate: try escalation(try required(r, "escalate")))
            }
            result.configuration.rules.append(BridgeRule(
                name: name, pushAppKey: pushAppKey, accountsAppKey: accountsAppKey, alias: alias, robot: robot,
                message: message, receipt: receipt))
            result.ruleLocations.append(location(entry.mark))
        }
        return result
    }

    /// Reads `escalate:`: a list of `resend`, `fallback: {...}` and `webhook: {...}`.
    func escalation(_ field: Field) throws(ConfigurationError) -> [EscalationStep] {
        guard let items = try optionalSequence(field), !items.isEmpty else {
            throw error("expected a list of at least one step: resend, fallback or webhook", at: field)
        }
        var steps: [EscalationStep] = []
        for item in items {
            if case .scalar = item.value {
                guard let text = try string(item), text == "resend" else {
                    throw mismatch(item, expected: "resend, or a mapping with fallback or webhook")
                }
                steps.append(.resend)
                continue
            }
            let step = try section(item, keys: BridgeKeys.step)
            guard step.fields.count == 1, let first = step.fields.first else {
                throw ConfigurationError(location: location(step.mark), path: item.path,
                                         message: "expected exactly one of resend, fallback, webhook")
            }
            let (kind, value) = (first.key, first.value)
            switch kind {
            case "resend":
                steps.append(.resend)
            case "fallback":
                let f = try section(value, keys: BridgeKeys.fallback)
                let (type, typeField) = try requiredString(f, "type")
                guard let kind = FallbackTarget.Kind(rawValue: type) else {
                    throw error("expected single or group, got \(quoted(type))", at: typeField)
                }
                let (id, idField) = try requiredString(f, "id")
                try requireNonEmpty(id, idField)
                if kind == .single { try validateUsername(id, idField) }
                var robot: String?
                if let r = f["robot"], let name = try string(r) {
                    try validateUsername(name, r)
                    robot = name
                }
                steps.append(.fallback(FallbackTarget(kind: kind, id: id, robot: robot)))
            default:
                let w = try section(value, keys: BridgeKeys.webhook)
                let (url, urlField) = try requiredString(w, "url")
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                      parsed.host?.isEmpty == false
                else {
                    throw error("expected an http or https URL, got \(quoted(url))", at: urlField)
                }
                steps.append(.webhook(url: url))
            }
        }
        return steps
    }
}
