import HTTPTypes
import Hub
import Hummingbird
import IMProtocol
import NIOCore

/// An error answered over HTTP as JMessage's `{"error":{"code":N,"message":"..."}}` with the matching status.
///
/// Every REST handler throws these (or `HubError`, converted here); this is the one place where codes
/// become HTTP statuses.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// The JMessage error code.
    public var code: ErrorCode
    /// What went wrong, naming the field.
    public var message: String
    /// The HTTP status: the code's own (`status(for:)`) unless the caller knows better, as authentication does.
    public var status: HTTPResponse.Status

    /// Creates an error; `status` defaults to the one the code maps to.
    public init(_ code: ErrorCode, _ message: String, status: HTTPResponse.Status? = nil) {
        self.code = code
        self.message = message
        self.status = status ?? Self.status(for: code)
    }

    /// Wraps a hub error.
    public init(_ error: HubError) {
        self.init(error.code, error.message)
    }

    /// 899003 for a bad field of a request body.
    public static func invalid(_ error: ProtocolError) -> APIError {
        APIError(.invalidParameter, error.description)
    }

    /// The HTTP status for a JMessage code.
    public static func status(for code: ErrorCode) -> HTTPResponse.Status {
        switch code {
        case .missingAuthentication, .authenticationFailed: .unauthorized
        case .senderNotPermitted, .crossAppNotPermitted: .forbidden
        case .userNotFound, .groupIDNotFound, .groupNotFound, .roomNotFound: .notFound
        case .internalError: .internalServerError
        case .busy: .tooManyRequests
        default: .badRequest
        }
    }

    /// The JSON error object, also used inside per-element results of batch calls.
    public var json: JSONValue {
        ["code": .int(Int64(code.rawValue)), "message": .string(message)]
    }

    /// Writes the JMessage error body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, ["error": json])
        if code == .authenticationFailed || code == .missingAuthentication {
            response.headers[.wwwAuthenticate] = "Basic realm=\"mynah\""
        }
        return response
    }
}

/// Builds JSON responses from `JSONValue`s.
enum JSONResponse {
    static func make(status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }

    static func empty(status: HTTPResponse.Status = .noContent) -> Response {
        Response(status: status)
    }
}
