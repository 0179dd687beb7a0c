/// A frame a client sends on the gateway's WebSocket: one JSON object per text frame, `op` saying which.
///
/// The full protocol, with the order of a session, is in `docs/gateway.md`.
public enum ClientFrame: Sendable, Hashable {
    /// Authenticate; must be the first frame.
    case login(Login)
    /// Send a message as the logged-in user.
    case send(Send)
    /// Acknowledge every inbox entry up to and including `seq`.
    case ack(seq: Int64)
    /// Keep the connection alive; answered by `pong`.
    case ping(id: String?)

    /// `{"op":"login"}`: who is connecting, and from where to resume.
    public struct Login: Sendable, Hashable {
        /// Correlation id echoed in the answer.
        public var id: String?
        /// The AppKey the user belongs to.
        public var appKey: String
        /// The username.
        public var username: String
        /// The user's password; empty when the login presents a `token` instead.
        public var password: String
        /// A login token from an earlier `login_ok` of this device, instead of the password (reconnects).
        public var token: String?
        /// `a`, `i`, `w` or `web`; becomes `from_platform` of the user's messages.
        public var platform: String
        /// A stable id of this device; each device has its own acknowledgement cursor.
        public var device: String
        /// Resume after this sequence number instead of the device's stored cursor.
        public var since: Int64?

        /// Creates a login frame.
        public init(id: String? = nil, appKey: String, username: String, password: String, token: String? = nil,
                    platform: String = "web", device: String = "default", since: Int64? = nil) {
            self.id = id
            self.token = token
            self.appKey = appKey
            self.username = username
            self.password = password
            self.platform = platform
            self.device = device
            self.since = since
        }
    }

    /// `{"op":"send"}`: a message from the logged-in user; the gateway fills in the sender.
    public struct Send: Sendable, Hashable {
        /// Correlation id echoed in `sent` or `error`.
        public var id: String?
        /// Idempotency key: the same key from the same user returns the first `msg_id` and stores nothing new.
        public var requestID: String?
        /// Single, group or chatroom.
        public var targetType: TargetType
        /// Username, gid or chatroom id.
        public var targetID: String
        /// AppKey of the recipient when it is in another app.
        public var targetAppKey: String?
        /// Display name of the recipient.
        public var targetName: String?
        /// Display name of the sender.
        public var fromName: String?
        /// The typed body.
        public var body: MessageBody
        /// When true, only online sessions receive it; nothing waits offline.
        public var noOffline: Bool

        /// Creates a send frame.
        public init(id: String? = nil, requestID: String? = nil, targetType: TargetType = .single, targetID: String,
                    targetAppKey: String? = nil, targetName: String? = nil, fromName: String? = nil,
                    body: MessageBody, noOffline: Bool = false) {
            self.id = id
            self.requestID = requestID
            self.targetType = targetType
            self.targetID = targetID
            self.targetAppKey = targetAppKey
            self.targetName = targetName
            self.fromName = fromName
            self.body = body
            self.noOffline = noOffline
        }
    }
}

/// A frame the gateway sends to a client.
public enum ServerFrame: Sendable, Hashable {
    /// The login succeeded; the backlog follows as `msg` frames.
    case loginOK(LoginOK)
    /// A `send` was stored durably and got this id.
    case sent(Sent)
    /// A message in the user's inbox, with its sequence number.
    case message(Delivery)
    /// An event in the user's inbox (membership, friends, retraction), with its sequence number.
    case event(EventDelivery)
    /// A request failed; `fatal` errors are followed by the server closing the connection.
    case error(Failure)
    /// The answer to `ping`.
    case pong(id: String?)

    /// `{"op":"login_ok"}`.
    public struct LoginOK: Sendable, Hashable {
        /// The login frame's id.
        public var id: String?
        /// The user's AppKey.
        public var appKey: String
        /// The user's username.
        public var username: String
        /// `user`, `robot` or `admin`.
        public var userType: FromType
        /// The device's acknowledged sequence number the backlog starts after.
        public var lastAck: Int64
        /// The server's clock in milliseconds.
        public var serverTime: Int64
        /// A login token for this device: the next login may present it instead of the password.
        public var token: String?
        /// When `token` stops being accepted, in milliseconds since 1970.
        public var tokenExpires: Int64?
        /// Creates the frame.
        public init(id: String?, appKey: String, username: String, userType: FromType, lastAck: Int64, serverTime: Int64,
                    token: String? = nil, tokenExpires: Int64? = nil) {
            self.id = id
            self.token = token
            self.tokenExpires = tokenExpires
            self.appKey = appKey
            self.username = username
            self.userType = userType
            self.lastAck = lastAck
            self.serverTime = serverTime
        }
    }

    /// `{"op":"sent"}`.
    public struct Sent: Sendable, Hashable {
        /// The send frame's id.
        public var id: String?
        /// The id the hub gave the message.
        public var msgID: Int64
        /// When the hub accepted it, in milliseconds.
        public var msgCtime: Int64
        /// Creates the frame.
        public init(id: String?, msgID: Int64, msgCtime: Int64) {
            self.id = id
            self.msgID = msgID
            self.msgCtime = msgCtime
        }
    }

    /// `{"op":"msg"}`: one inbox entry.
    public struct Delivery: Sendable, Hashable {
        /// The entry's position in the recipient's inbox; acknowledge it with `ack`.
        public var seq: Int64
        /// The stored message.
        public var stored: StoredMessage
        /// True when the recipient should not be notified (the message's `no_notification`, or the recipient's
        /// no-disturb setting for this sender or group).
        public var noNotification: Bool
        /// Creates the frame.
        public init(seq: Int64, stored: StoredMessage, noNotification: Bool = false) {
            self.seq = seq
            self.stored = stored
            self.noNotification = noNotification
        }
    }

    /// `{"op":"event"}`: one event entry of the inbox; acknowledged like a message.
    public struct EventDelivery: Sendable, Hashable {
        /// The entry's position in the recipient's inbox.
        public var seq: Int64
        /// What happened.
        public var event: ChatEvent
        /// Creates the frame.
        public init(seq: Int64, event: ChatEvent) {
            self.seq = seq
            self.event = event
        }
    }

    /// `{"op":"error"}`.
    public struct Failure: Sendable, Hashable, Error {
        /// The id of the frame that failed, when there was one.
        public var id: String?
        /// A JMessage error code.
        public var code: ErrorCode
        /// What went wrong, naming the field where there is one.
        public var message: String
        /// True when the server closes the connection after this frame.
        public var fatal: Bool
        /// Creates the frame.
        public init(id: String? = nil, code: ErrorCode, message: String, fatal: Bool = false) {
            self.id = id
            self.code = code
            self.message = message
            self.fatal = fatal
        }
    }
}

// MARK: - JSON

extension ClientFrame {
    /// Parses one text frame; the error names the bad field.
    public init(json data: some Collection<UInt8>) throws(ProtocolError) {
        try self.init(json: try JSONValue.parse(data))
    }

    /// Validates a decoded frame.
    public init(json value: JSONValue) throws(ProtocolError) {
        let r = try JSONObjectReader(value, path: "")
        let op = try r.nonEmptyString("op")
        switch op {
        case "login":
            // A token stands for the password; one of the two is required.
            let token = try r.optionalNonEmptyString("token", maxLength: 256)
            self = .login(Login(
                id: try r.optionalString("id"), appKey: try r.nonEmptyString("appkey"),
                username: try r.nonEmptyString("username"),
                password: token == nil ? try r.string("password") : try r.optionalString("password") ?? "", token: token,
                platform: try r.optionalNonEmptyString("platform", maxLength: 16) ?? "web",
                device: try r.optionalNonEmptyString("device", maxLength: 128) ?? "default",
                since: try r.optionalInt("since")))
        case "send":
            let type = try r.enumValue("msg_type", MessageType.self)
            self = .send(Send(
                id: try r.optionalString("id"), requestID: try r.optionalNonEmptyString("request_id", maxLength: 128),
                targetType: try r.optionalEnum("target_type", TargetType.self) ?? .single,
                targetID: try r.nonEmptyString("target_id"), targetAppKey: try r.optionalString("target_appkey"),
                targetName: try r.optionalString("target_name"), fromName: try r.optionalString("from_name"),
                body: try MessageBody(type: type, json: try r.required("msg_body"), path: "msg_body"),
                noOffline: try r.optionalBool("no_offline") ?? false))
        case "ack":
            let seq = try r.int("seq")
            guard seq >= 0 else { throw ProtocolError(path: "seq", reason: "must not be negative") }
            self = .ack(seq: seq)
        case "ping":
            self = .ping(id: try r.optionalString("id"))
        default:
            throw ProtocolError(path: "op", reason: "unknown op '\(op)', expected login|send|ack|ping")
        }
    }

    /// The frame as a JSON object.
    public var json: JSONValue {
        var o: [String: JSONValue]
        switch self {
        case .login(let l):
            o = ["op": "login", "appkey": .string(l.appKey), "username": .string(l.username),
                 "platform": .string(l.platform), "device": .string(l.device)]
            if let t = l.token { o["token"] = .string(t) }
            if l.token == nil || !l.password.isEmpty { o["password"] = .string(l.password) }
            if let id = l.id { o["id"] = .string(id) }
            if let s = l.since { o["since"] = .int(s) }
        case .send(let s):
            o = ["op": "send", "target_type": .string(s.targetType.rawValue), "target_id": .string(s.targetID),
                 "msg_type": .string(s.body.type.rawValue), "msg_body": s.body.json]
            if let id = s.id { o["id"] = .string(id) }
            if let r = s.requestID { o["request_id"] = .string(r) }
            if let a = s.targetAppKey { o["target_appkey"] = .string(a) }
            if let n = s.targetName { o["target_name"] = .string(n) }
            if let n = s.fromName { o["from_name"] = .string(n) }
            if s.noOffline { o["no_offline"] = true }
        case .ack(let seq):
            o = ["op": "ack", "seq": .int(seq)]
        case .ping(let id):
            o = ["op": "ping"]
            if let id { o["id"] = .string(id) }
        }
        return .object(o)
    }
}

extension ServerFrame {
    /// Parses one text frame from the server.
    public init(json data: some Collection<UInt8>) throws(ProtocolError) {
        try self.init(json: try JSONValue.parse(data))
    }

    /// Validates a decoded server frame.
    public init(json value: JSONValue) throws(ProtocolError) {
        let r = try JSONObjectReader(value, path: "")
        let op = try r.nonEmptyString("op")
        switch op {
        case "login_ok":
            self = .loginOK(LoginOK(
                id: try r.optionalString("id"), appKey: try r.string("appkey"), username: try r.string("username"),
                userType: try r.enumValue("user_type", FromType.self), lastAck: try r.int("last_ack"),
                serverTime: try r.int("server_time"), token: try r.optionalString("token"),
                tokenExpires: try r.optionalInt("token_expires")))
        case "sent":
            self = .sent(Sent(id: try r.optionalString("id"), msgID: try r.int("msg_id"), msgCtime: try r.int("msg_ctime")))
        case "msg":
            let message = try Message(json: try r.required("message"), path: "message")
            self = .message(Delivery(
                seq: try r.int("seq"),
                stored: StoredMessage(msgID: try r.int("msg_id"), msgCtime: try r.int("msg_ctime"), message: message),
                noNotification: try r.optionalBool("no_notification") ?? false))
        case "event":
            self = .event(EventDelivery(seq: try r.int("seq"), event: try ChatEvent(json: try r.required("event"), path: "event")))
        case "error":
            self = .error(Failure(
                id: try r.optionalString("id"), code: ErrorCode(rawValue: Int(try r.int("code"))),
                message: try r.string("message"), fatal: try r.optionalBool("fatal") ?? false))
        case "pong":
            self = .pong(id: try r.optionalString("id"))
        default:
            throw ProtocolError(path: "op", reason: "unknown op '\(op)'")
        }
    }

    /// The frame's JSON text, byte for byte `json.serialized()`. The `sent` answer, one per message, is written
    /// directly (its dictionary and sort were 4 % of the store's writer thread, where answers are filled).
    public func serialized() -> [UInt8] {
        guard case .sent(let s) = self else { return json.serialized() }
        var out: [UInt8] = []
        out.reserveCapacity(64 + (s.id?.utf8.count ?? 0))
        out.append(UInt8(ascii: "{"))
        if let id = s.id {
            out.append(contentsOf: #""id":"#.utf8)
            JSONValue.writeString(id, into: &out)
            out.append(UInt8(ascii: ","))
        }
        out.append(contentsOf: #""msg_ctime":"#.utf8)
        JSONValue.writeInt(s.msgCtime, into: &out)
        out.append(contentsOf: #","msg_id":"#.utf8)
        JSONValue.writeInt(s.msgID, into: &out)
        out.append(contentsOf: #","op":"sent"}"#.utf8)
        return out
    }

    /// The frame as a JSON object.
    public var json: JSONValue {
        var o: [String: JSONValue]
        switch self {
        case .loginOK(let l):
            o = ["op": "login_ok", "appkey": .string(l.appKey), "username": .string(l.username),
                 "user_type": .string(l.userType.rawValue), "last_ack": .int(l.lastAck), "server_time": .int(l.serverTime)]
            if let id = l.id { o["id"] = .string(id) }
            if let t = l.token { o["token"] = .string(t) }
            if let e = l.tokenExpires { o["token_expires"] = .int(e) }
        case .sent(let s):
            o = ["op": "sent", "msg_id": .int(s.msgID), "msg_ctime": .int(s.msgCtime)]
            if let id = s.id { o["id"] = .string(id) }
        case .message(let d):
            o = ["op": "msg", "seq": .int(d.seq), "msg_id": .int(d.stored.msgID), "msg_ctime": .int(d.stored.msgCtime),
                 "message": d.stored.message.json]
            if d.noNotification { o["no_notification"] = true }
        case .event(let e):
            o = ["op": "event", "seq": .int(e.seq), "event": e.event.json]
        case .error(let e):
            o = ["op": "error", "code": .int(Int64(e.code.rawValue)), "message": .string(e.message)]
            if let id = e.id { o["id"] = .string(id) }
            if e.fatal { o["fatal"] = true }
        case .pong(let id):
            o = ["op": "pong"]
            if let id { o["id"] = .string(id) }
        }
        return .object(o)
    }
}
