import Bridge
import HTTPTypes
import Hummingbird
import IMProtocol
import NIOCore

/// The one place where JPush error codes become HTTP statuses and `{"error":{"code":N,"message":"..."}}` bodies.
enum PushAPIError {
    /// The HTTP status of a JPush code: 401 for authentication, 405 for a wrong method, 429 for the rate
    /// limit, 500 for internal errors, 400 for everything else a client got wrong.
    static func status(for code: Int) -> HTTPResponse.Status {
        switch code {
        case 1004, 3001, 7001, 7004: .unauthorized
        case 1001, 3002: .methodNotAllowed
        case 2002: .tooManyRequests
        case 1000, 3000, 7000: .internalServerError
        default: .badRequest
        }
    }

    /// The error object, also used for the per-`cid` results of batch pushes.
    static func json(_ error: BridgeError) -> JSONValue {
        ["code": .int(Int64(error.code)), "message": .string(error.message)]
    }

    /// The error response.
    static func response(_ error: BridgeError) -> Response {
        var response = PushReply.json(["error": json(error)]).response(status: status(for: error.code))
        if status(for: error.code) == .unauthorized {
            response.headers[.wwwAuthenticate] = "Basic realm=\"mynah\""
        }
        return response
    }
}

/// A successful `/v3` answer: always exactly 200, with a JSON body or none.
enum PushReply {
    case json(JSONValue)
    case empty

    func response(status: HTTPResponse.Status = .ok) -> Response {
        switch self {
        case .json(let value):
            Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.serialized())))
        case .empty:
            Response(status: status)
        }
    }
}
