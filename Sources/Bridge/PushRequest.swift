import IMProtocol

/// What a push says, merged from its `notification` and `message`: the text, the title and the extras.
public struct PushContent: Sendable, Equatable {
    /// `notification.alert` (or a platform's alert; an iOS alert object's `body`).
    public var alert: String?
    /// A notification title (`notification.android.title`, an iOS alert's `title`) or `message.title`.
    public var title: String?
    /// `message.msg_content`.
    public var msgContent: String?
    /// `message.content_type`.
    public var contentType: String?
    /// The extras of every platform's notification and of the message, later ones winning.
    public var extras: [String: JSONValue]

    /// Creates content.
    public init(alert: String? = nil, title: String? = nil, msgContent: String? = nil, contentType: String? = nil,
                extras: [String: JSONValue] = [:]) {
        self.alert = alert
        self.title = title
        self.msgContent = msgContent
        self.contentType = contentType
        self.extras = extras
    }

    /// The JSON form kept in the store.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["extras": .object(extras)]
        if let alert { o["alert"] = .string(alert) }
        if let title { o["title"] = .string(title) }
        if let msgContent { o["msg_content"] = .string(msgContent) }
        if let contentType { o["content_type"] = .string(contentType) }
        return .object(o)
    }

    /// Reads the stored JSON form.
    public init(json: JSONValue) throws(ProtocolError) {
        let r = try JSONObjectReader(json, path: "")
        self.init(alert: try r.optionalString("alert"), title: try r.optionalString("title"),
                  msgContent: try r.optionalString("msg_content"), contentType: try r.optionalString("content_type"),
                  extras: try r.optionalObject("extras") ?? [:])
    }
}

/// Who a push is for: everyone, or the intersection of the given kinds (each a union of its values).
public enum Audience: Sendable, Equatable {
    /// `"all"`: every device with an alias, and every binding of the table.
    case all
    /// An audience object.
    case filter(Filter)

    /// The keys of an audience object; each present key narrows the audience.
    public struct Filter: Sendable, Equatable {
        /// Any of these aliases.
        public var alias: [String]?
        /// Any of these registration ids.
        public var registrationID: [String]?
        /// Devices with any of these tags.
        public var tag: [String]?
        /// Devices with all of these tags.
        public var tagAnd: [String]?
        /// Devices with none of these tags.
        public var tagNot: [String]?

        /// Creates a filter.
        public init(alias: [String]? = nil, registrationID: [String]? = nil, tag: [String]? = nil,
                    tagAnd: [String]? = nil, tagNot: [String]? = nil) {
            self.alias = alias
            self.registrationID = registrationID
            self.tag = tag
            self.tagAnd = tagAnd
            self.tagNot = tagNot
        }
    }
}

/// A `POST /v3/push` body, validated the way JPush validates it (1002 missing, 1003 bad value, 1005 too
/// large, 1009 unsupported).
///
/// ```swift
/// let push = try PushRequest(json: ["platform": "all", "audience": ["alias": ["uid_alice"]],
///                                   "notification": ["alert": "Order 42 shipped"]])
/// ```
public struct PushRequest: Sendable, Equatable {
    /// `"all"` or the listed platforms.
    public var platforms: [String]?
    /// Who it is for.
    public var audience: Audience
    /// What it says.
    public var content: PushContent
    /// The idempotency key.
    public var cid: String?
    /// `options.sendno`, echoed back; "0" when absent.
    public var sendno: String
    /// `options.time_to_live` in seconds; 86400 by default, at most 10 days, 0 = online only.
    public var timeToLive: Int64
    /// `callback`: where receipts of this push are reported, if anywhere.
    public var callback: ReceiptCallback? = nil

    /// The platforms JPush knows.
    public static let platformNames = ["android", "ios", "winphone", "quickapp", "hmos"]
    /// The largest `time_to_live`: 10 days.
    public static let maxTimeToLive: Int64 = 864_000
    /// The largest `notification` + `message`, in bytes of JSON.
    public static let maxPayloadBytes = 4000

    /// Creates a request.
    public init(platforms: [String]? = nil, audience: Audience, content: PushContent, cid: String? = nil,
                sendno: String = "0", timeToLive: Int64 = 86400) {
        self.platforms = platforms
        self.audience = audience
        self.content = content
        self.cid = cid
        self.sendno = sendno
        self.timeToLive = timeToLive
    }

    /// Reads and validates a push body.
    public init(json: JSONValue) throws(BridgeError) {
        guard case .object(let o) = json else { throw .invalid("", "expected a JSON object, got \(json.typeName)") }
        let known = ["platform", "audience", "notification", "message", "options", "cid", "sms_message", "inapp_message",
                     "notification_3rd", "callback"]
        for key in o.keys.sorted() where !known.contains(key) {
            throw .unsupported(key, "unknown key")
        }
        platforms = try Self.platforms(o["platform"])
        audience = try Self.audience(o["audience"])
        var content = PushContent()
        let notification = o["notification"].flatMap { $0 == .null ? nil : $0 }
        let message = o["message"].flatMap { $0 == .null ? nil : $0 }
        guard notification != nil || message != nil else { throw .missing("notification or message") }
        if let notification { try Self.readNotification(notification, into: &content) }
        if let message { try Self.readMessage(message, into: &content) }
        let payloadBytes = (notification?.serialized().count ?? 0) + (message?.serialized().count ?? 0)
        guard payloadBytes <= Self.maxPayloadBytes else {
            throw .tooLarge("notification and message are \(payloadBytes) bytes; at most \(Self.maxPayloadBytes)")
        }
        self.content = content
        callback = try ReceiptCallback.read(o["callback"])
        switch o["cid"] {
        case .none, .some(.null): cid = nil
        case .some(.string(let s)):
            guard !s.isEmpty, s.utf8.count <= 128 else { throw .invalid("cid", "must be 1 to 128 bytes") }
            cid = s
        case .some(let v): throw .invalid("cid", "expected a string, got \(v.typeName)")
        }
        sendno = "0"
        timeToLive = 86400
        switch o["options"] {
        case .none, .some(.null): break
        case .some(.object(let options)):
            switch options["sendno"] {
            case .none, .some(.null): break
            case .some(let v):
                guard let n = v.intValue, n >= 0, n <= Int64(Int32.max) else {
                    throw .invalid("options.sendno", "expected a non-negative integer, got \(v.serializedString())")
                }
                sendno = String(n)
            }
            switch options["time_to_live"] {
            case .none, .some(.null): break
            case .some(let v):
                guard let n = v.intValue, (0...Self.maxTimeToLive).contains(n) else {
                    throw .invalid("options.time_to_live", "expected 0 to \(Self.maxTimeToLive) seconds, got \(v.serializedString())")
                }
                timeToLive = n
            }
            if let v = options["override_msg_id"], v != .null {
                throw .unsupported("options.override_msg_id", "bridged messages cannot be overridden")
            }
            if let v = options["apns_production"], v != .null, v.boolValue == nil {
                throw .invalid("options.apns_production", "expected a boolean, got \(v.typeName)")
            }
        case .some(let v): throw .invalid("options", "expected an object, got \(v.typeName)")
        }
    }

    static func platforms(_ value: JSONValue?) throws(BridgeError) -> [String]? {
        switch value {
        case .none, .some(.null): throw .missing("platform")
        case .some(.string("all")): return nil
        case .some(.array(let items)):
            guard !items.isEmpty else { throw .invalid("platform", "must not be empty") }
            var names: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let name) = item, platformNames.contains(name) else {
                    throw .invalid("platform[\(i)]", "must be one of \(platformNames.joined(separator: "|")), got \(item.serializedString())")
                }
                names.append(name)
            }
            return names
        case .some(let v):
            throw .invalid("platform", "expected \"all\" or a list of platforms, got \(v.serializedString())")
        }
    }

    static func audience(_ value: JSONValue?) throws(BridgeError) -> Audience {
        switch value {
        case .none, .some(.null): throw .missing("audience")
        case .some(.string("all")): return .all
        case .some(.object(let o)):
            var filter = Audience.Filter()
            for key in o.keys.sorted() {
                switch key {
                case "alias": filter.alias = try strings(o[key], path: "audience.alias", max: 1000, maxBytes: 40)
                case "registration_id":
                    filter.registrationID = try strings(o[key], path: "audience.registration_id", max: 1000, maxBytes: 128)
                case "tag": filter.tag = try strings(o[key], path: "audience.tag", max: 20, maxBytes: 40)
                case "tag_and": filter.tagAnd = try strings(o[key], path: "audience.tag_and", max: 20, maxBytes: 40)
                case "tag_not": filter.tagNot = try strings(o[key], path: "audience.tag_not", max: 20, maxBytes: 40)
                case "segment", "abtest", "live_activity_id":
                    throw .unsupported("audience.\(key)", "not supported by the bridge; use alias, registration_id or tags")
                default: throw .invalid("audience.\(key)", "unknown audience key")
                }
            }
            guard filter != Audience.Filter() else { throw .missing("audience: at least one of alias, registration_id, tag, tag_and, tag_not") }
            if filter.alias == nil, filter.registrationID == nil, filter.tag == nil, filter.tagAnd == nil {
                throw .invalid("audience.tag_not", "needs another audience key to narrow")
            }
            return .filter(filter)
        case .some(let v):
            throw .invalid("audience", "expected \"all\" or an object, got \(v.serializedString())")
        }
    }

    static func strings(_ value: JSONValue?, path: String, max: Int, maxBytes: Int) throws(BridgeError) -> [String] {
        guard case .array(let items)? = value else {
            throw .invalid(path, "expected a list of strings, got \(value?.typeName ?? "nothing")")
        }
        guard !items.isEmpty else { throw .invalid(path, "must not be empty") }
        guard items.count <= max else { throw .invalid(path, "at most \(max) values, got \(items.count)") }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item, !s.isEmpty else {
                throw .invalid("\(path)[\(i)]", "expected a non-empty string, got \(item.serializedString())")
            }
            guard s.utf8.count <= maxBytes else { throw .invalid("\(path)[\(i)]", "longer than \(maxBytes) bytes") }
            if !out.contains(s) { out.append(s) }
        }
        return out
    }

    static func readNotification(_ value: JSONValue, into content: inout PushContent) throws(BridgeError) {
        guard case .object(let n) = value else {
            throw .invalid("notification", "expected an object, got \(value.typeName)")
        }
        content.alert = try optionalString(n["alert"], path: "notification.alert")
        for platform in ["android", "ios", "winphone", "quickapp", "hmos", "voip"] {
            guard let p = n[platform], p != .null else { continue }
            guard case .object(let po) = p else {
                throw .invalid("notification.\(platform)", "expected an object, got \(p.typeName)")
            }
            switch po["alert"] {
            case .some(.object(let alert)) where platform == "ios":
                if content.alert == nil { content.alert = try optionalString(alert["body"], path: "notification.ios.alert.body") }
                if content.title == nil { content.title = try optionalString(alert["title"], path: "notification.ios.alert.title") }
            default:
                if content.alert == nil { content.alert = try optionalString(po["alert"], path: "notification.\(platform).alert") }
            }
            if content.title == nil { content.title = try optionalString(po["title"], path: "notification.\(platform).title") }
            switch po["extras"] {
            case .none, .some(.null): break
            case .some(.object(let e)): content.extras.merge(e) { _, new in new }
            case .some(let v): throw .invalid("notification.\(platform).extras", "expected an object, got \(v.typeName)")
            }
        }
        if content.alert == nil { throw .missing("notification.alert") }
    }

    static func readMessage(_ value: JSONValue, into content: inout PushContent) throws(BridgeError) {
        guard case .object(let m) = value else { throw .invalid("message", "expected an object, got \(value.typeName)") }
        guard let text = try optionalString(m["msg_content"], path: "message.msg_content") else {
            throw .missing("message.msg_content")
        }
        content.msgContent = text
        if content.title == nil { content.title = try optionalString(m["title"], path: "message.title") }
        content.contentType = try optionalString(m["content_type"], path: "message.content_type")
        switch m["extras"] {
        case .none, .some(.null): break
        case .some(.object(let e)): content.extras.merge(e) { _, new in new }
        case .some(let v): throw .invalid("message.extras", "expected an object, got \(v.typeName)")
        }
    }

    static func optionalString(_ value: JSONValue?, path: String) throws(BridgeError) -> String? {
        switch value {
        case .none, .some(.null): return nil
        case .some(.string(let s)): return s
        case .some(let v): throw .invalid(path, "expected a string, got \(v.typeName)")
        }
    }
}
