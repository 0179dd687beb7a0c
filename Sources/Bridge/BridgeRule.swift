import Foundation
import IMProtocol

/// One bridge rule (an entry of `bridge.rules` in `bots.yaml`): pushes of one AppKey become IM messages to the
/// accounts of an AppKey (the same or another one), delivered by a robot.
///
/// ```swift
/// let rule = BridgeRule(name: "orders", pushAppKey: "shop", accountsAppKey: "chat",
///                       alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot", message: .text)
/// ```
public struct BridgeRule: Sendable, Equatable {
    /// A name for logs and webhooks; unique among rules.
    public var name: String
    /// The AppKey whose master secret authenticates `POST /v3/push`; one rule per AppKey.
    public var pushAppKey: String
    /// The AppKey holding the accounts the pushes are delivered to.
    public var accountsAppKey: String
    /// How an alias becomes a username.
    public var alias: AliasMapping
    /// The robot account (in `accountsAppKey`) that sends the bridged messages.
    public var robot: String
    /// How a push becomes a message body.
    public var message: MessageMapping
    /// The receipt deadline and what happens when it passes, if the rule asks for one.
    public var receipt: ReceiptPolicy?

    /// Creates a rule.
    public init(name: String, pushAppKey: String, accountsAppKey: String? = nil, alias: AliasMapping = .equal,
                robot: String, message: MessageMapping = .text, receipt: ReceiptPolicy? = nil) {
        self.name = name
        self.pushAppKey = pushAppKey
        self.accountsAppKey = accountsAppKey ?? pushAppKey
        self.alias = alias
        self.robot = robot
        self.message = message
        self.receipt = receipt
    }
}

/// How a JPush alias maps to a username of the accounts' AppKey.
public enum AliasMapping: Sendable, Equatable {
    /// The alias is the username.
    case equal
    /// The alias is `prefix + username + suffix`, as the template `uid_{username}` says.
    case template(prefix: String, suffix: String)
    /// The alias is looked up in the binding table managed over `/v3/bridge/bindings`.
    case table

    /// Parses `equal`, `table`, or a template holding `{username}` exactly once; `nil` for anything else.
    public init?(parsing text: String) {
        switch text {
        case "equal": self = .equal
        case "table": self = .table
        default:
            let parts = text.components(separatedBy: "{username}")
            guard parts.count == 2, !parts.joined().contains("{"), !parts.joined().contains("}") else { return nil }
            self = .template(prefix: parts[0], suffix: parts[1])
        }
    }

    /// The username an alias stands for under `equal` or a template; `nil` when it does not match (and always
    /// for `table`, which needs the store).
    public func username(forAlias alias: String) -> String? {
        switch self {
        case .equal: return alias
        case .table: return nil
        case .template(let prefix, let suffix):
            guard alias.count > prefix.count + suffix.count, alias.hasPrefix(prefix), alias.hasSuffix(suffix) else {
                return nil
            }
            return String(alias.dropFirst(prefix.count).dropLast(suffix.count))
        }
    }

    /// The alias of a username under `equal` or a template (for messages and webhooks).
    public func alias(forUsername username: String) -> String? {
        switch self {
        case .equal: username
        case .table: nil
        case .template(let prefix, let suffix): prefix + username + suffix
        }
    }
}

/// How a push becomes the body of the bridged IM message.
public enum MessageMapping: Sendable, Equatable {
    /// A text message: the notification's alert, else the message's `msg_content`; the extras travel along.
    case text
    /// A custom message carrying `alert`, `title`, `msg_content`, `content_type`, `extras` and the push's `msg_id`.
    case custom
    /// A text message from a template with `{alert}`, `{title}`, `{msg_content}`, `{extras.KEY}`, `{alias}`,
    /// `{username}`, `{msg_id}` and `{sendno}`.
    case template(MessageTemplate)
}

/// A text template with `{placeholder}`s, checked when the configuration is read.
public struct MessageTemplate: Sendable, Equatable {
    /// A piece of a template: literal text or a placeholder name.
    public enum Piece: Sendable, Equatable {
        /// Literal text.
        case literal(String)
        /// A placeholder such as `alert` or `extras.order_id`.
        case placeholder(String)
    }

    /// The template as written.
    public let text: String
    /// The parsed pieces.
    public let pieces: [Piece]

    /// The placeholders a template may use besides `extras.KEY`.
    public static let names = ["alert", "title", "msg_content", "alias", "username", "msg_id", "sendno"]

    /// Parses a template; the error says which placeholder or brace is wrong.
    public init(_ text: String) throws(ProtocolError) {
        var pieces: [Piece] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            if open > rest.startIndex { pieces.append(.literal(String(rest[..<open]))) }
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw ProtocolError(path: "", reason: "unclosed '{' in template")
            }
            let name = String(rest[rest.index(after: open)..<close])
            let isExtra = name.hasPrefix("extras.") && name.count > "extras.".count
            guard Self.names.contains(name) || isExtra else {
                let allowed = (Self.names + ["extras.KEY"]).map { "{\($0)}" }.joined(separator: ", ")
                throw ProtocolError(path: "", reason: "unknown placeholder '{\(name)}'; use \(allowed)")
            }
            pieces.append(.placeholder(name))
            rest = rest[rest.index(after: close)...]
        }
        if rest.contains("}") { throw ProtocolError(path: "", reason: "'}' without '{' in template") }
        if !rest.isEmpty { pieces.append(.literal(String(rest))) }
        self.text = text
        self.pieces = pieces
    }

    /// Fills the placeholders; a missing value becomes the empty string, a non-string extra its JSON text.
    public func render(_ values: [String: String], extras: [String: JSONValue]) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let s): out += s
            case .placeholder(let name):
                if name.hasPrefix("extras.") {
                    switch extras[String(name.dropFirst("extras.".count))] {
                    case .none, .some(.null): break
                    case .some(.string(let s)): out += s
                    case .some(let v): out += v.serializedString()
                    }
                } else {
                    out += values[name] ?? ""
                }
            }
        }
        return out
    }

    /// Compares templates by their text.
    public static func == (a: MessageTemplate, b: MessageTemplate) -> Bool { a.text == b.text }
}

/// A receipt deadline: a bridged message must be acknowledged by a device of its account `within` a time,
/// otherwise the `escalate` steps run, one per further `within` while it stays unreceived.
public struct ReceiptPolicy: Sendable, Equatable {
    /// How long after delivery (and after each step) the receipt may take.
    public var within: Duration
    /// What to do, in order, each time the deadline passes unreceived.
    public var escalate: [EscalationStep]

    /// Creates a policy.
    public init(within: Duration, escalate: [EscalationStep]) {
        self.within = within
        self.escalate = escalate
    }
}

/// One escalation step.
public enum EscalationStep: Sendable, Equatable {
    /// Sends the message again to the account, from the rule's robot.
    case resend
    /// Posts a notice into a fallback conversation (an on-call user or group) through a robot.
    case fallback(FallbackTarget)
    /// POSTs a JSON notice to a URL.
    case webhook(url: String)

    /// The step's name in logs, webhooks and reports: `resend`, `fallback` or `webhook`.
    public var name: String {
        switch self {
        case .resend: "resend"
        case .fallback: "fallback"
        case .webhook: "webhook"
        }
    }
}

/// A conversation the fallback step posts into.
public struct FallbackTarget: Sendable, Equatable {
    /// A single chat with a user, or a group (groups need the hub's group support).
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case single, group
    }

    /// Single or group.
    public var kind: Kind
    /// The username or the gid, in the rule's accounts AppKey.
    public var id: String
    /// The robot that posts; the rule's robot when `nil`.
    public var robot: String?

    /// Creates a fallback target.
    public init(kind: Kind, id: String, robot: String? = nil) {
        self.kind = kind
        self.id = id
        self.robot = robot
    }
}

/// The per-AppKey token bucket of the `/v3` API: `requests` per `per`, refilled continuously.
public struct RateLimit: Sendable, Equatable {
    /// The bucket's size, reported as `X-Rate-Limit-Limit`.
    public var requests: Int
    /// The time in which an empty bucket fills up.
    public var per: Duration

    /// Creates a limit; 600 requests per 60 s by default, JPush's free quota.
    public init(requests: Int = 600, per: Duration = .seconds(60)) {
        self.requests = requests
        self.per = per
    }
}
