import Hub
import Hummingbird
import HummingbirdCore
import NIOCore
import Logging

/// The WebSocket long connection for clients and bots at `/gateway`; the protocol is in `docs/gateway.md`.
public enum Gateway {
    /// Limits of the gateway.
    public struct Configuration: Sendable {
        /// Largest inbound frame in bytes.
        public var maxFrameBytes: Int
        /// How many inbox entries are read from the store at a time when catching up.
        public var backlogBatch: Int

        /// How long a new connection may take to send its login frame.
        public var loginTimeout: Duration
        /// How often the server sends a WebSocket ping; a connection that has not answered the previous ping
        /// when the next is due is closed (1001), so a dead peer is noticed within two intervals.
        public var pingInterval: Duration

        /// How long one write to a client may wait for the client to read. The socket's buffers are the
        /// connection's bounded send buffer: once they are full and stay full this long, the client is
        /// disconnected (it resumes later from its cursor) so that it holds no more server memory.
        public var writeTimeout: Duration

        /// How many sends of one connection may be stored at once (to different conversations, or waiting behind
        /// an earlier send to the same one); further frames are read when one finishes.
        public var sendsInFlight: Int
        /// How many sends of all connections together may be stored at once; a connection that finds them all
        /// taken reads its next frame when any send finishes. Bounds the memory and store calls that many
        /// connections can queue (at most this many frames of `maxFrameBytes`).
        public var sendsInFlightTotal: Int

        /// Creates a configuration with defaults of 64 KiB frames, batches of 256 entries, a 10 s login timeout,
        /// a ping every 30 s, a 15 s write timeout, 64 sends in flight per connection and 4,096 in all.
        public init(maxFrameBytes: Int = 1 << 16, backlogBatch: Int = 256, loginTimeout: Duration = .seconds(10),
                    pingInterval: Duration = .seconds(30), writeTimeout: Duration = .seconds(15),
                    sendsInFlight: Int = 64, sendsInFlightTotal: Int = 4096) {
            self.sendsInFlightTotal = sendsInFlightTotal
            self.maxFrameBytes = maxFrameBytes
            self.backlogBatch = backlogBatch
            self.loginTimeout = loginTimeout
            self.pingInterval = pingInterval
            self.writeTimeout = writeTimeout
            self.sendsInFlight = sendsInFlight
        }
    }

    /// The path the gateway listens on.
    public static let path = "/gateway"

    /// The gateway's connections sharing `hub` and `configuration`, and the server's HTTP/1.1 channel with the
    /// gateway's upgrade.
    static func server(hub: Hub, configuration: Configuration, logger: Logger) -> (HTTPServerBuilder, GatewayShutdown) {
        let connections = GatewayConnections(hub: hub, configuration: configuration, logger: logger)
        let builder = HTTPServerBuilder { responder in
            GatewayChannel(responder: responder, gateway: connections)
        }
        return (builder, GatewayShutdown(connections: connections))
    }
}
