import IMProtocol

/// A failure of a hub operation, carrying the JMessage error code that goes on the wire.
///
/// The HTTP layer maps the code to a status in one place; the gateway sends it in an error frame.
public struct HubError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JMessage error code.
    public var code: ErrorCode
    /// What went wrong, naming the field or the entity; never contains a secret.
    public var message: String

    /// Creates an error with a code and a message.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// 899003 for a bad protocol field, with its path.
    public static func invalid(_ error: ProtocolError) -> HubError {
        HubError(.invalidParameter, error.description)
    }

    /// 899003 with a message naming the field.
    public static func invalid(_ field: String, _ reason: String) -> HubError {
        HubError(.invalidParameter, "\(field): \(reason)")
    }

    /// 899002 for a username that does not exist in an app.
    public static func userNotFound(_ username: String, appKey: String) -> HubError {
        HubError(.userNotFound, "user '\(username)' does not exist in app \(appKey)")
    }

    /// 899000 wrapping a storage failure; the cause is logged, not shown.
    public static let storage = HubError(.internalError, "internal storage error")

    /// 899000 for a call cut short because its task was cancelled (the daemon is shutting down): not a storage
    /// failure, and nothing worth an error line.
    public static let cancelled = HubError(.internalError, "cancelled: the server is shutting down")
}
