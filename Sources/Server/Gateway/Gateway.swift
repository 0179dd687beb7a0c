import Hub
import Hummingbird
import HummingbirdWebSocket
import Logging

/// The WebSocket long connection for clients and bots at `/gateway`; the protocol is in `docs/gateway.md`.
public enum Gateway {
    /// Limits of the gateway.
    public struct Configuration: Sendable {
        /// Largest inbound frame in bytes.
        public var maxFrameBytes: Int
        /// How many inbox entries are read from the store at a time when catching up.
        public var backlogBatch: Int

        /// Creates a configuration with defaults of 64 KiB frames and batches of 256 entries.
        public init(maxFrameBytes: Int = 1 << 16, backlogBatch: Int = 256) {
            self.maxFrameBytes = maxFrameBytes
            self.backlogBatch = backlogBatch
        }
    }

    /// The path the gateway listens on.
    public static let path = "/gateway"

    static func register(on router: Router<BasicWebSocketRequestContext>, hub: Hub, configuration: Configuration,
                         logger: Logger) {
        router.ws(RouterPath(stringLiteral: path)) { inbound, outbound, context in
            let session = GatewaySession(hub: hub, outbound: outbound, logger: logger, configuration: configuration)
            try await session.run(inbound: inbound)
        }
    }
}
