/// Something that happened to a conversation rather than a message in it: members joining or leaving a group, a
/// friendship, a retraction. Events travel in the same inbox as messages, so they are ordered and resumed alike.
///
/// ```swift
/// if case .event(let e) = frame, e.event.kind == .groupMembersAdded { print(e.event.usernames) }
/// ```
public struct ChatEvent: Sendable, Hashable {
    /// What happened; an extensible set of names, the raw value is what goes on the wire.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire name, e.g. `group_members_added`.
        public var rawValue: String
        /// Wraps a wire name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The wire name.
        public var description: String { rawValue }

        /// A group was created; `usernames` are its first members.
        public static let groupCreated = Kind(rawValue: "group_created")
        /// A group's name, description or avatar changed.
        public static let groupUpdated = Kind(rawValue: "group_updated")
        /// A group was deleted; its members get this last event of it.
        public static let groupDeleted = Kind(rawValue: "group_deleted")
        /// `usernames` joined the group.
        public static let groupMembersAdded = Kind(rawValue: "group_members_added")
        /// `usernames` left or were removed from the group.
        public static let groupMembersRemoved = Kind(rawValue: "group_members_removed")
        /// The group has a new owner, `usernames[0]`.
        public static let groupOwnerChanged = Kind(rawValue: "group_owner_changed")
        /// `usernames` were silenced in the group (may not send).
        public static let groupMembersSilenced = Kind(rawValue: "group_members_silenced")
        /// `usernames` may send in the group again.
        public static let groupMembersUnsilenced = Kind(rawValue: "group_members_unsilenced")
        /// `usernames` became friends of the recipient.
        public static let friendAdded = Kind(rawValue: "friend_added")
        /// `usernames` are no longer friends of the recipient.
        public static let friendRemoved = Kind(rawValue: "friend_removed")
        /// The message `msg_id` was retracted by its sender.
        public static let messageRetracted = Kind(rawValue: "message_retracted")
    }

    /// What happened.
    public var kind: Kind
    /// The AppKey of the group, room or users concerned.
    public var appKey: String
    /// The group, for group events.
    public var gid: Int64?
    /// The users concerned (members added or removed, new friends, the new owner).
    public var usernames: [String]
    /// The AppKey of each of `usernames` when it differs from `appKey` (cross-app members), by username.
    public var userAppKeys: [String: String]
    /// Who did it: a username, or `nil` when an admin did it through the REST API.
    public var by: String?
    /// The message concerned, for retractions.
    public var msgID: Int64?
    /// When it happened, in milliseconds.
    public var ctime: Int64

    /// Creates an event.
    public init(kind: Kind, appKey: String, gid: Int64? = nil, usernames: [String] = [], userAppKeys: [String: String] = [:],
                by: String? = nil, msgID: Int64? = nil, ctime: Int64) {
        self.kind = kind
        self.appKey = appKey
        self.gid = gid
        self.usernames = usernames
        self.userAppKeys = userAppKeys
        self.by = by
        self.msgID = msgID
        self.ctime = ctime
    }

    /// The event as a JSON object: `kind`, `appkey`, `ctime`, and the fields that apply.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["kind": .string(kind.rawValue), "appkey": .string(appKey), "ctime": .int(ctime)]
        if let gid { o["gid"] = .int(gid) }
        if !usernames.isEmpty { o["usernames"] = .array(usernames.map { .string($0) }) }
        if !userAppKeys.isEmpty { o["user_appkeys"] = .object(userAppKeys.mapValues { .string($0) }) }
        if let by { o["by"] = .string(by) }
        if let msgID { o["msg_id"] = .int(msgID) }
        return .object(o)
    }

    /// Reads an event; unknown kinds are kept so that older clients survive newer servers.
    public init(json value: JSONValue, path: String = "") throws(ProtocolError) {
        let r = try JSONObjectReader(value, path: path)
        kind = Kind(rawValue: try r.nonEmptyString("kind"))
        appKey = try r.string("appkey")
        gid = try r.optionalInt("gid")
        ctime = try r.int("ctime")
        by = try r.optionalString("by")
        msgID = try r.optionalInt("msg_id")
        usernames = []
        if let list = r.object["usernames"] {
            guard case .array(let items) = list else {
                throw ProtocolError(path: r.fieldPath("usernames"), reason: "expected an array, got \(list.typeName)")
            }
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw ProtocolError(path: "\(r.fieldPath("usernames"))[\(i)]", reason: "expected a string, got \(item.typeName)")
                }
                usernames.append(s)
            }
        }
        userAppKeys = [:]
        if let map = try r.optionalObject("user_appkeys") {
            for (name, v) in map {
                guard case .string(let s) = v else {
                    throw ProtocolError(path: "\(r.fieldPath("user_appkeys")).\(name)", reason: "expected a string, got \(v.typeName)")
                }
                userAppKeys[name] = s
            }
        }
    }
}
