import Hub
import Hummingbird
import IMProtocol
import Prometheus

/// `GET /metrics`: the daemon's counters, timers and gauges (hub, bots, bridge) in the Prometheus text format,
/// for a scraper. With a token, only `Authorization: Bearer <token>` may read them.
public struct MetricsEndpoint: Sendable {
    /// The registry the daemon's metrics were made in.
    public var registry: PrometheusCollectorRegistry
    /// The bearer token a scraper must present; `nil` leaves the endpoint open (bind to loopback then).
    public var token: String?

    /// The route's path.
    public static let path = "/metrics"

    /// Creates the endpoint.
    public init(registry: PrometheusCollectorRegistry, token: String? = nil) {
        self.registry = registry
        self.token = token
    }

    /// Adds `GET /metrics` to `router`.
    public func register(on router: Router<BasicRequestContext>) {
        router.get(RouterPath(stringLiteral: Self.path)) { request, _ -> Response in
            if let token {
                guard let presented = request.headers[.authorization] else {
                    return Self.refusal(.missingAuthentication, "metrics need 'Authorization: Bearer <metrics.token>'")
                }
                // The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
                guard presented.prefix(7).lowercased() == "bearer ",
                      constantTimeEquals(String(presented.dropFirst(7)), token) else {
                    return Self.refusal(.authenticationFailed, "wrong bearer token for metrics")
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }

    /// A JMessage error body with the bearer challenge.
    static func refusal(_ code: ErrorCode, _ message: String) -> Response {
        var response = JSONResponse.make(status: .unauthorized, ["error": APIError(code, message).json])
        response.headers[.wwwAuthenticate] = "Bearer realm=\"mynah metrics\""
        return response
    }
}
