import Hummingbird
import NIOCore

extension HTTPServer {
    /// A POST route the composition adds beside the APIs (bots on the real JMessage receive its routing callbacks
    /// this way); the handler gets the `Authorization` header and the body, and answers a status and a JSON body.
    public struct ExtraRoute: Sendable {
        /// The path, e.g. `/jmessage/callback`.
        public var path: String
        /// Answers one request: (Authorization header, body) to (HTTP status, JSON body).
        public var handler: @Sendable (_ authorization: String?, _ body: [UInt8]) async -> (status: Int, body: [UInt8])

        /// Creates a route.
        public init(path: String,
                    handler: @escaping @Sendable (_ authorization: String?, _ body: [UInt8]) async -> (status: Int, body: [UInt8])) {
            self.path = path
            self.handler = handler
        }
    }

    /// The largest body an extra route reads (a routing batch of 100 messages of 4 KB fits several times).
    static let extraRouteMaxBody = 8 << 20

    static func register(_ routes: [ExtraRoute], on router: Router<BasicRequestContext>) {
        for route in routes {
            router.post(RouterPath(route.path)) { request, _ -> Response in
                let body = try await request.body.collect(upTo: extraRouteMaxBody)
                let (status, answer) = await route.handler(request.headers[.authorization], Array(buffer: body))
                return Response(status: .init(code: status), headers: [.contentType: "application/json; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
            }
        }
    }
}
