/// Who a message is addressed to, `target_type` on the wire.
public enum TargetType: String, Sendable, Hashable, Codable, CaseIterable {
    case single, group, chatroom
}

/// What kind of account sent a message, `from_type` on the wire.
///
/// Users may only send as `user`; only robots send as `robot`; admins (and the REST API) send as `admin`.
public enum FromType: String, Sendable, Hashable, Codable, CaseIterable {
    case user, robot, admin
}

/// A message in JMessage protocol v1: the envelope and its typed body.
///
/// ```swift
/// let m = try Message(json: JSONValue.parse(data))
/// print(m.fromID, m.body.text ?? "")
/// ```
public struct Message: Sendable, Hashable {
    /// Protocol version; always 1.
    public var version: Int
    /// Single, group or chatroom.
    public var targetType: TargetType
    /// Username, gid or chatroom id of the recipient.
    public var targetID: String
    /// AppKey of the recipient when it is in another app (cross-app chat).
    public var targetAppKey: String?
    /// Display name of the recipient.
    public var targetName: String?
    /// Kind of sender.
    public var fromType: FromType
    /// Username of the sender.
    public var fromID: String
    /// AppKey of the sender.
    public var fromAppKey: String?
    /// Display name of the sender.
    public var fromName: String?
    /// Platform of the sender: `a`, `i`, `w`, `web`, or `api` for the REST API. The hub always sets it; messages
    /// from elsewhere (the protocol document's own example) may lack it.
    public var fromPlatform: String?
    /// When the message was sent, in seconds since 1970.
    public var createTime: Int64
    /// The typed body; its type is the message's `msg_type`.
    public var body: MessageBody

    /// Creates a message envelope.
    public init(targetType: TargetType, targetID: String, targetAppKey: String? = nil, targetName: String? = nil,
                fromType: FromType, fromID: String, fromAppKey: String? = nil, fromName: String? = nil,
                fromPlatform: String?, createTime: Int64, body: MessageBody, version: Int = 1) {
        self.version = version
        self.targetType = targetType
        self.targetID = targetID
        self.targetAppKey = targetAppKey
        self.targetName = targetName
        self.fromType = fromType
        self.fromID = fromID
        self.fromAppKey = fromAppKey
        self.fromName = fromName
        self.fromPlatform = fromPlatform
        self.createTime = createTime
        self.body = body
    }

    /// The `msg_type` of the body.
    public var msgType: MessageType { body.type }

    /// Validates a protocol v1 message; the error names the first bad field's JSON path.
    public init(json: JSONValue, path: String = "") throws(ProtocolError) {
        let r = try JSONObjectReader(json, path: path)
        let version = try r.int("version")
        guard version == 1 else {
            throw ProtocolError(path: r.fieldPath("version"), reason: "unsupported version \(version), expected 1")
        }
        self.version = 1
        targetType = try r.enumValue("target_type", TargetType.self)
        targetID = try r.nonEmptyString("target_id")
        targetAppKey = try r.optionalString("target_appkey")
        targetName = try r.optionalString("target_name")
        fromType = try r.enumValue("from_type", FromType.self)
        fromID = try r.nonEmptyString("from_id")
        fromAppKey = try r.optionalString("from_appkey")
        fromName = try r.optionalString("from_name")
        fromPlatform = try r.optionalString("from_platform")
        createTime = try r.int("create_time")
        let type = try r.enumValue("msg_type", MessageType.self)
        body = try MessageBody(type: type, json: try r.required("msg_body"), path: r.fieldPath("msg_body"))
    }

    /// The message as its protocol v1 JSON object.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "version": .int(Int64(version)),
            "target_type": .string(targetType.rawValue),
            "target_id": .string(targetID),
            "from_type": .string(fromType.rawValue),
            "from_id": .string(fromID),
            "create_time": .int(createTime),
            "msg_type": .string(body.type.rawValue),
            "msg_body": body.json,
        ]
        if let targetAppKey { o["target_appkey"] = .string(targetAppKey) }
        if let targetName { o["target_name"] = .string(targetName) }
        if let fromAppKey { o["from_appkey"] = .string(fromAppKey) }
        if let fromName { o["from_name"] = .string(fromName) }
        if let fromPlatform { o["from_platform"] = .string(fromPlatform) }
        return .object(o)
    }
}

extension Message {
    /// The message's JSON text, byte for byte `json.serialized()`, written without building and sorting its
    /// dictionary (8 % of the store's writer thread in the 1:1 profile). `bodyJSON`, when given, must be
    /// `body.json.serialized()`, made earlier off the writer; it is spliced in.
    public func serializedJSON(bodyJSON: [UInt8]? = nil) -> [UInt8] {
        assert(bodyJSON == nil || bodyJSON == body.json.serialized(), "bodyJSON is not this message's body")
        var out: [UInt8] = []
        out.reserveCapacity(160 + (bodyJSON?.count ?? 64))
        // The keys in sorted order, as `JSONValue.write(into:)` writes an object's; `create_time` is always first.
        func key(_ name: StaticString) {
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        func string(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONValue.writeString(value, into: &out)
        }
        out.append(contentsOf: #"{"create_time":"#.utf8)
        JSONValue.writeInt(createTime, into: &out)
        string("from_appkey", fromAppKey)
        string("from_id", fromID)
        string("from_name", fromName)
        string("from_platform", fromPlatform)
        string("from_type", fromType.rawValue)
        key("msg_body")
        if let bodyJSON {
            out.append(contentsOf: bodyJSON)
        } else {
            body.json.write(into: &out)
        }
        string("msg_type", body.type.rawValue)
        string("target_appkey", targetAppKey)
        string("target_id", targetID)
        string("target_name", targetName)
        string("target_type", targetType.rawValue)
        key("version")
        JSONValue.writeInt(Int64(version), into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// A message the hub has accepted: the envelope plus the id and the millisecond time the hub gave it.
public struct StoredMessage: Sendable, Hashable {
    /// The hub-wide message id, `msg_id` (`msgid` in the history API).
    public var msgID: Int64
    /// When the hub accepted it, in milliseconds since 1970, `msg_ctime`.
    public var msgCtime: Int64
    /// The message itself.
    public var message: Message

    /// Wraps an accepted message.
    public init(msgID: Int64, msgCtime: Int64, message: Message) {
        self.msgID = msgID
        self.msgCtime = msgCtime
        self.message = message
    }
}

extension Message: Codable {
    /// Decodes through `init(json:)`, so Codable users get the same validation.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        do {
            try self.init(json: value)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description,
                                                    underlyingError: error))
        }
    }

    /// Encodes the protocol v1 JSON object.
    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}
