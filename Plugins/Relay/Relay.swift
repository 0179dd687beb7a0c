import BotKit

/// Forwards messages from one conversation to another, across AppKeys too, and never in a loop.
///
/// Every relayed message carries `extras.mynah_relay` (`origin`, `hops`); a message that already went through
/// `max_hops` relays is not relayed again, so two relays pointing at each other stop after one hop.
///
/// ```yaml
/// - swift: relay
///   config:
///     routes:
///       - from: { type: single, id: alice }
///         to: { type: single, id: carol, appkey: other-app }
///         via: other_bot          # optional: send through that bot of the daemon
/// ```
public struct Relay: Plugin {
    /// One forwarding rule.
    public struct Route: Sendable, Hashable {
        /// Where messages come from.
        public var from: Conversation
        /// Where they go.
        public var to: Conversation
        /// The bot that sends them, when not this one.
        public var via: String?
    }

    /// `swift: relay` in `bots.yaml`.
    public static let pluginName = "relay"
    /// The rules, in order; a message goes to every matching route.
    public var routes: [Route]
    /// How many relays a message may pass (`max_hops`, default 1).
    public var maxHops: Int
    /// Whether relayed text starts with the sender's name (`name_prefix`, default true).
    public var namePrefix: Bool

    /// Reads `routes` (required list), `max_hops` and `name_prefix`.
    public init(configuration: JSONValue) throws(ProtocolError) {
        guard case .object(let o) = configuration else {
            throw ProtocolError(path: "", reason: "expected a mapping, got \(configuration.typeName)")
        }
        for key in o.keys where !["routes", "max_hops", "name_prefix"].contains(key) {
            throw ProtocolError(path: key, reason: "unknown key; relay takes routes, max_hops and name_prefix")
        }
        guard case .array(let items)? = o["routes"], !items.isEmpty else {
            throw ProtocolError(path: "routes", reason: "expected a list of at least one route")
        }
        var routes: [Route] = []
        for (i, item) in items.enumerated() {
            let path = "routes[\(i)]"
            guard case .object(let r) = item else { throw ProtocolError(path: path, reason: "expected a mapping") }
            for key in r.keys where !["from", "to", "via"].contains(key) {
                throw ProtocolError(path: "\(path).\(key)", reason: "unknown key; a route takes from, to and via")
            }
            guard let from = r["from"] else { throw ProtocolError(path: "\(path).from", reason: "required") }
            guard let to = r["to"] else { throw ProtocolError(path: "\(path).to", reason: "required") }
            if let via = r["via"], via.stringValue == nil {
                throw ProtocolError(path: "\(path).via", reason: "expected a bot name, got \(via.typeName)")
            }
            routes.append(Route(from: try Conversation(json: from, path: "\(path).from"),
                                to: try Conversation(json: to, path: "\(path).to"), via: r["via"]?.stringValue))
        }
        self.routes = routes
        switch o["max_hops"] {
        case .none: maxHops = 1
        case .some(let v):
            guard let n = v.intValue, n >= 1 else {
                throw ProtocolError(path: "max_hops", reason: "expected an integer of at least 1")
            }
            maxHops = Int(n)
        }
        switch o["name_prefix"] {
        case .none: namePrefix = true
        case .some(.bool(let b)): namePrefix = b
        case .some(let v): throw ProtocolError(path: "name_prefix", reason: "expected a boolean, got \(v.typeName)")
        }
    }

    /// Forwards a message to every route whose `from` is its conversation, unless it already hopped enough.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        guard case .message(let m) = event, m.command == nil else { return [] }
        let marker = Self.marker(of: m.body)
        let hops = marker?["hops"]?.intValue ?? 0
        guard hops < maxHops else { return [] }
        let here = Self.normalized(m.conversation, appKey: context.bot.appKey)
        let origin = marker?["origin"] ?? .string("\(m.senderAppKey ?? context.bot.appKey)/\(m.stored.msgID)")
        let stamp: JSONValue = ["origin": origin, "hops": .int(hops + 1), "from": .string(m.sender)]
        var actions: [BotAction] = []
        for route in routes where Self.normalized(route.from, appKey: context.bot.appKey) == here {
            var body = m.body
            if namePrefix, case .text(var t) = body {
                t.text = "\(m.message.fromName ?? m.sender): \(t.text)"
                body = .text(t)
            }
            actions.append(.send(to: route.to, body: Self.marked(body, with: stamp), via: route.via))
        }
        return actions
    }

    static func normalized(_ c: Conversation, appKey: String) -> Conversation {
        Conversation(type: c.type, id: c.id, appKey: c.appKey ?? appKey)
    }

    /// The relay marker of a body, if it has been relayed.
    static func marker(of body: MessageBody) -> JSONValue? {
        switch body {
        case .text(let b): b.extras?["mynah_relay"]
        case .image(let b): b.extras?["mynah_relay"]
        case .file(let b): b.extras?["mynah_relay"]
        case .voice(let b): b.extras?["mynah_relay"]
        case .video(let b): b.extras?["mynah_relay"]
        case .location(let b): b.extras?["mynah_relay"]
        case .custom(let c): c["mynah_relay"]
        }
    }

    /// The body with the relay marker in its extras.
    static func marked(_ body: MessageBody, with stamp: JSONValue) -> MessageBody {
        switch body {
        case .text(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .text(b)
        case .image(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .image(b)
        case .file(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .file(b)
        case .voice(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .voice(b)
        case .video(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .video(b)
        case .location(var b): b.extras = (b.extras ?? [:]).merging(["mynah_relay": stamp]) { $1 }; return .location(b)
        case .custom(var c): c["mynah_relay"] = stamp; return .custom(c)
        }
    }
}
