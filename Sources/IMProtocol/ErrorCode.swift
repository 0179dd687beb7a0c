/// A JMessage or JPush error code, as carried in `{"error":{"code":N,"message":"..."}}` and in gateway error frames.
///
/// The static members are the codes Mynah uses; the raw value is what goes on the wire.
public struct ErrorCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The numeric code on the wire.
    public var rawValue: Int
    /// Wraps a numeric code.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Decodes the bare number.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(Int.self)
    }
    /// Encodes the bare number.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    /// The number in decimal.
    public var description: String { String(rawValue) }

    /// 899000: internal server error.
    public static let internalError = ErrorCode(rawValue: 899000)
    /// 899001: the user already exists.
    public static let userExists = ErrorCode(rawValue: 899001)
    /// 899002: the user does not exist.
    public static let userNotFound = ErrorCode(rawValue: 899002)
    /// 899003: a parameter is missing or invalid.
    public static let invalidParameter = ErrorCode(rawValue: 899003)
    /// 899006: the gid does not exist.
    public static let groupIDNotFound = ErrorCode(rawValue: 899006)
    /// 899007: authentication is missing.
    public static let missingAuthentication = ErrorCode(rawValue: 899007)
    /// 899008: Basic authentication (or a gateway login) failed.
    public static let authenticationFailed = ErrorCode(rawValue: 899008)
    /// 899009: the AppKey does not exist.
    public static let appKeyNotFound = ErrorCode(rawValue: 899009)
    /// 899013: more than 500 users in one registration.
    public static let tooManyUsers = ErrorCode(rawValue: 899013)
    /// 899016: the sender lacks the rights to send as the given `from_type`.
    public static let senderNotPermitted = ErrorCode(rawValue: 899016)
    /// 899020: no cross-app permission.
    public static let crossAppNotPermitted = ErrorCode(rawValue: 899020)
    /// 899011: a member was added twice.
    public static let memberAlreadyAdded = ErrorCode(rawValue: 899011)
    /// 899012: the group has no room for the new members.
    public static let groupFull = ErrorCode(rawValue: 899012)
    /// 899014: a user to remove is not a member of the group.
    public static let notAMember = ErrorCode(rawValue: 899014)
    /// 899015: the user has joined as many groups as allowed.
    public static let userGroupLimit = ErrorCode(rawValue: 899015)
    /// 899017: the user is already on the blacklist.
    public static let alreadyBlacklisted = ErrorCode(rawValue: 899017)
    /// 899018: an admin cannot be blacklisted.
    public static let adminNotBlacklistable = ErrorCode(rawValue: 899018)
    /// 899019: the user is not on the blacklist.
    public static let notBlacklisted = ErrorCode(rawValue: 899019)
    /// 899021: the user is in another app; use the cross-app API.
    public static let useCrossAppAPI = ErrorCode(rawValue: 899021)
    /// 899051: the group does not exist.
    public static let groupNotFound = ErrorCode(rawValue: 899051)
    /// 899070: the friend was already added.
    public static let friendExists = ErrorCode(rawValue: 899070)
    /// 899071: the user is not in the friend list (also: friend mode refuses a message to a non-friend).
    public static let notAFriend = ErrorCode(rawValue: 899071)
    /// 899081: the chatroom does not exist.
    public static let roomNotFound = ErrorCode(rawValue: 899081)
    /// 899082: the user is not in the chatroom.
    public static let notInRoom = ErrorCode(rawValue: 899082)
    /// 855001: the message is too old to retract (3 minutes).
    public static let retractTooLate = ErrorCode(rawValue: 855001)
    /// 855002: only the sender may retract a message.
    public static let retractNotSender = ErrorCode(rawValue: 855002)
    /// 855003: the message to retract does not exist.
    public static let retractNotFound = ErrorCode(rawValue: 855003)
    /// 855004: the message was already retracted.
    public static let alreadyRetracted = ErrorCode(rawValue: 855004)
    /// 801006: the account is forbidden (disabled) and may neither log in nor send.
    public static let userForbidden = ErrorCode(rawValue: 801006)
    /// 803005: the sender is not a member of the group.
    public static let senderNotInGroup = ErrorCode(rawValue: 803005)
    /// 803008: the recipient has the sender on its blacklist.
    public static let senderBlacklisted = ErrorCode(rawValue: 803008)
    /// 803012: the sender is silenced in the group.
    public static let senderSilenced = ErrorCode(rawValue: 803012)
    /// 847002: the sender is silenced in the chatroom.
    public static let senderSilencedInRoom = ErrorCode(rawValue: 847002)
    /// 899030: the server is busy; retry later.
    public static let busy = ErrorCode(rawValue: 899030)
}
