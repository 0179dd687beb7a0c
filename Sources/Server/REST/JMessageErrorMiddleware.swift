import Hub
import Hummingbird
import IMProtocol

extension APIError {
    /// The JMessage error for what a REST handler threw: API errors as they are, hub errors with their code, a bad
    /// field of a body as 899003; nil for anything else. The one place these become wire errors.
    init?(_ error: any Error) {
        switch error {
        case let e as APIError: self = e
        case let e as HubError: self.init(e)
        case let e as ProtocolError: self = .invalid(e)
        default: return nil
        }
    }
}

/// Answers whatever a REST handler throws as JMessage's `{"error":{"code":N,"message":"..."}}` through
/// ``APIError/init(_:)-(any Error)``, so handlers call the hub and read bodies without wrapping each call.
struct JMessageErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response {
        do {
            return try await next(request, context)
        } catch {
            throw APIError(error) ?? error
        }
    }
}
