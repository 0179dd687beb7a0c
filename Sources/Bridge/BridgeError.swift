/// A failure of a JPush v3 call, carrying the JPush error code that goes on the wire.
///
/// The HTTP layer maps codes to statuses in one place (`PushAPIError`); messages name the offending field.
public struct BridgeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JPush error code (1xxx push, 3xxx report, 7xxx device).
    public var code: Int
    /// What went wrong; never contains a secret.
    public var message: String

    /// Creates an error.
    public init(_ code: Int, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// 1000: internal error (the cause is logged, not shown).
    public static let internalError = BridgeError(1000, "internal error")
    /// 1002: a required field is missing.
    public static func missing(_ field: String) -> BridgeError { BridgeError(1002, "\(field): required") }
    /// 1003: a field has a bad value.
    public static func invalid(_ field: String, _ reason: String) -> BridgeError {
        BridgeError(1003, field.isEmpty ? reason : "\(field): \(reason)")
    }
    /// 1005: the payload is too large.
    public static func tooLarge(_ reason: String) -> BridgeError { BridgeError(1005, reason) }
    /// 1008: the AppKey cannot push through the bridge.
    public static func noRule(_ appKey: String) -> BridgeError {
        BridgeError(1008, "appkey \(appKey) has no bridge rule (bridge.rules in bots.yaml)")
    }
    /// 1009: a key the bridge does not support.
    public static func unsupported(_ field: String, _ reason: String) -> BridgeError {
        BridgeError(1009, "\(field): \(reason)")
    }
    /// 1011: no account matches the audience.
    public static let noTarget = BridgeError(1011, "cannot find user by this audience")
    /// 3004: a bad parameter of the report API.
    public static func reportInvalid(_ reason: String) -> BridgeError { BridgeError(3004, reason) }
    /// 3005: a msg_id the report API does not know for this AppKey.
    public static func unknownMessage(_ msgID: Int64) -> BridgeError {
        BridgeError(3005, "msg_id \(msgID) does not exist for this appkey")
    }
    /// 7002: a bad parameter of the device API.
    public static func deviceInvalid(_ reason: String) -> BridgeError { BridgeError(7002, reason) }
    /// 7008: an unknown registration id, alias binding or tag.
    public static func deviceNotFound(_ reason: String) -> BridgeError { BridgeError(7008, reason) }
}
