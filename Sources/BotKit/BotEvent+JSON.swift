import IMProtocol

// The JSON form of events and actions that external and webhook plugins speak (docs/plugins.md).

extension Conversation {
    /// `{"type":"single","id":"alice","appkey":"..."}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["type": .string(type.rawValue), "id": .string(id)]
        if let appKey { o["appkey"] = .string(appKey) }
        return .object(o)
    }

    /// Reads `{"type":..., "id":..., "appkey":...}`; `type` defaults to `single`.
    public init(json: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = json else {
            throw ProtocolError(path: path, reason: "expected an object, got \(json.typeName)")
        }
        let typeName = o["type"]?.stringValue ?? "single"
        guard let type = TargetType(rawValue: typeName) else {
            throw ProtocolError(path: "\(path).type", reason: "expected single, group or chatroom, got '\(typeName)'")
        }
        guard let id = o["id"]?.stringValue, !id.isEmpty else {
            throw ProtocolError(path: "\(path).id", reason: "expected a non-empty string")
        }
        if let appKey = o["appkey"], appKey != .null, appKey.stringValue == nil {
            throw ProtocolError(path: "\(path).appkey", reason: "expected a string, got \(appKey.typeName)")
        }
        self.init(type: type, id: id, appKey: o["appkey"]?.stringValue)
    }
}

extension BotEvent {
    /// The event as one JSON object; its `type` says which event it is.
    public var json: JSONValue {
        switch self {
        case .message(let m):
            var o: [String: JSONValue] = [
                "type": "message",
                "conversation": m.conversation.json,
                "sender": .object([
                    "username": .string(m.sender),
                    "appkey": m.senderAppKey.map(JSONValue.string) ?? .null,
                    "type": .string(m.message.fromType.rawValue),
                    "name": m.message.fromName.map(JSONValue.string) ?? .null,
                ]),
                "msg_id": .int(m.stored.msgID),
                "msg_ctime": .int(m.stored.msgCtime),
                "message": m.message.json,
                "mentions": .array(m.mentions.map(JSONValue.string)),
                "mentions_bot": .bool(m.mentionsBot),
            ]
            if let text = m.text { o["text"] = .string(text) }
            if let c = m.command {
                o["command"] = .object(["name": .string(c.name), "args": .object(c.arguments), "plugin": .string(c.plugin)])
            }
            return .object(o)
        case .membersJoined(let c):
            return ["type": "members_joined", "conversation": c.conversation.json,
                    "usernames": .array(c.usernames.map(JSONValue.string))]
        case .membersLeft(let c):
            return ["type": "members_left", "conversation": c.conversation.json,
                    "usernames": .array(c.usernames.map(JSONValue.string))]
        case .started:
            return ["type": "started"]
        case .tick(let t):
            return ["type": "tick", "schedule": .string(t.schedule), "scheduled_at": .int(t.scheduledAt)]
        }
    }
}

extension BotAction {
    /// The action as one JSON object.
    public var json: JSONValue {
        switch self {
        case .reply(let body):
            return ["type": "reply", "msg_type": .string(body.type.rawValue), "msg_body": body.json]
        case .send(let to, let body, let via, let requestID):
            var o: [String: JSONValue] = ["type": "send", "to": to.json, "msg_type": .string(body.type.rawValue),
                                          "msg_body": body.json]
            if let via { o["via"] = .string(via) }
            if let requestID { o["request_id"] = .string(requestID) }
            return .object(o)
        case .store(let key, let value):
            return ["type": "store", "key": .string(key), "value": value]
        case .attach(let attachment, let to):
            guard let to else { return ["type": "reply", "attachment": attachment.json] }
            return ["type": "send", "to": to.json, "attachment": attachment.json]
        }
    }

    /// Reads one action; the error names the first bad field, such as `actions[0].msg_body.text: required`.
    public init(json: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = json else {
            throw ProtocolError(path: path, reason: "expected an object, got \(json.typeName)")
        }
        guard let type = o["type"]?.stringValue else {
            throw ProtocolError(path: "\(path).type", reason: "expected reply, send or store")
        }
        switch type {
        case "reply":
            if let attachment = o["attachment"] {
                self = .attach(try Attachment(json: attachment, path: "\(path).attachment"))
                return
            }
            self = .reply(try Self.body(o, path: path))
        case "send":
            guard let to = o["to"] else { throw ProtocolError(path: "\(path).to", reason: "required") }
            let conversation = try Conversation(json: to, path: "\(path).to")
            if let via = o["via"], via != .null, via.stringValue == nil {
                throw ProtocolError(path: "\(path).via", reason: "expected a string, got \(via.typeName)")
            }
            if let attachment = o["attachment"] {
                guard o["via"] == nil || o["via"] == .null else {
                    throw ProtocolError(path: "\(path).via", reason: "not supported with an attachment")
                }
                self = .attach(try Attachment(json: attachment, path: "\(path).attachment"), to: conversation)
                return
            }
            if let id = o["request_id"], id != .null, id.stringValue?.isEmpty ?? true {
                throw ProtocolError(path: "\(path).request_id", reason: "expected a non-empty string")
            }
            self = .send(to: conversation, body: try Self.body(o, path: path), via: o["via"]?.stringValue,
                         requestID: o["request_id"]?.stringValue)
        case "store":
            guard let key = o["key"]?.stringValue, !key.isEmpty else {
                throw ProtocolError(path: "\(path).key", reason: "expected a non-empty string")
            }
            self = .store(key: key, value: o["value"] ?? .null)
        default:
            throw ProtocolError(path: "\(path).type", reason: "expected reply, send or store, got '\(type)'")
        }
    }

    /// The body of a reply or send: `"text": "..."` for short, or `msg_type` with `msg_body`.
    static func body(_ o: [String: JSONValue], path: String) throws(ProtocolError) -> MessageBody {
        if let text = o["text"] {
            guard let s = text.stringValue else {
                throw ProtocolError(path: "\(path).text", reason: "expected a string, got \(text.typeName)")
            }
            return .text(s)
        }
        guard let typeName = o["msg_type"]?.stringValue else {
            throw ProtocolError(path: "\(path).text", reason: "required (or msg_type with msg_body)")
        }
        guard let type = MessageType(rawValue: typeName) else {
            let known = MessageType.allCases.map(\.rawValue).joined(separator: ", ")
            throw ProtocolError(path: "\(path).msg_type", reason: "expected one of \(known), got '\(typeName)'")
        }
        guard let body = o["msg_body"] else { throw ProtocolError(path: "\(path).msg_body", reason: "required") }
        return try MessageBody(type: type, json: body, path: "\(path).msg_body")
    }

    /// Reads a list of actions under `path`.
    public static func list(_ json: JSONValue?, path: String) throws(ProtocolError) -> [BotAction] {
        guard let json, json != .null else { return [] }
        guard case .array(let items) = json else {
            throw ProtocolError(path: path, reason: "expected an array, got \(json.typeName)")
        }
        var actions: [BotAction] = []
        for (index, item) in items.enumerated() {
            actions.append(try BotAction(json: item, path: "\(path)[\(index)]"))
        }
        return actions
    }
}

extension CommandSpec {
    /// `{"name":..., "help":..., "args":[{"name":..., "kind":"word", "optional":false}], "roles":[...]}`.
    public var json: JSONValue {
        ["name": .string(name), "help": .string(help), "roles": .array(roles.map(JSONValue.string)),
         "args": .array(arguments.map { ["name": .string($0.name), "kind": .string($0.kind.rawValue),
                                         "optional": .bool($0.optional)] })]
    }

    /// Reads a declaration as a plugin's handshake gives it.
    public init(json: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = json else {
            throw ProtocolError(path: path, reason: "expected an object, got \(json.typeName)")
        }
        guard let name = o["name"]?.stringValue, !name.isEmpty, !name.contains(where: \.isWhitespace) else {
            throw ProtocolError(path: "\(path).name", reason: "expected a non-empty string without spaces")
        }
        let help = o["help"]?.stringValue ?? ""
        var roles: [String] = []
        if case .array(let items)? = o["roles"] {
            for (i, item) in items.enumerated() {
                guard let role = item.stringValue else {
                    throw ProtocolError(path: "\(path).roles[\(i)]", reason: "expected a string")
                }
                roles.append(role)
            }
        }
        var arguments: [Argument] = []
        if case .array(let items)? = o["args"] {
            for (i, item) in items.enumerated() {
                let p = "\(path).args[\(i)]"
                guard let argName = item["name"]?.stringValue, !argName.isEmpty else {
                    throw ProtocolError(path: "\(p).name", reason: "expected a non-empty string")
                }
                let kindName = item["kind"]?.stringValue ?? "word"
                guard let kind = Argument.Kind(rawValue: kindName) else {
                    throw ProtocolError(path: "\(p).kind", reason: "expected word, integer or rest, got '\(kindName)'")
                }
                if let previous = arguments.last, previous.kind == .rest {
                    throw ProtocolError(path: p, reason: "no argument may follow a 'rest' argument")
                }
                arguments.append(Argument(name: argName, kind: kind, optional: item["optional"]?.boolValue ?? false))
            }
        }
        self.init(name: name, arguments: arguments, help: help, roles: roles)
    }
}
