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
    /// 899030: the server is busy; retry later.
    public static let busy = ErrorCode(rawValue: 899030)
}
