import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// The daemon's connections: HTTP/1.1 for the REST API, and the WebSocket gateway at ``Gateway/path`` upgraded
/// from it.
///
/// An upgraded connection is handed to channel handlers (``GatewayHandler``) and keeps no task: hummingbird-websocket
/// runs every WebSocket in a task of its own for the connection's whole life, and a task keeps the memory of every
/// async frame it ran (25 KB of each idle connection, heaptrack). Requests that are not upgraded are Hummingbird's,
/// as with its plain HTTP/1.1 server.
struct GatewayChannel: ServerChildChannel, HTTPChannelHandler {
    /// What the first request of a connection became.
    enum UpgradeResult: Sendable {
        /// A gateway connection: its handlers are in place and need nothing more from the connection's task.
        case gateway
        /// Plain HTTP/1.1.
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade to another path: answered 400, then closed. (A bad handshake to the gateway's path fails before
        /// it is asked, and is served as a plain request.)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    /// A connection being set up.
    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let gateway: GatewayConnections
    let http1: HTTP1Channel.Configuration

    init(responder: @escaping HTTPChannelHandler.Responder, gateway: GatewayConnections,
         http1: HTTP1Channel.Configuration = .init()) {
        self.gateway = gateway
        self.http1 = http1
        // NIO upgrades only a connection's first request: a later request asking for the WebSocket on a kept-alive
        // connection is redirected to the same address and the connection closed, so the client asks again first.
        self.responder = { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, writer, channel)
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            try await writer.writeResponse(HTTPResponse(status: .temporaryRedirect,
                                                        headerFields: [.connection: "close", .location: location]))
            throw GatewayChannelError.upgradeOnKeptAliveConnection
        }
    }

    /// Puts the HTTP/1.1 pipeline in place, with the gateway's upgrade.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let gateway = gateway
            let configuration = gateway.configuration
            // Set when the first request asks for an upgrade, which a refusal then answers with 400.
            let upgradeAsked = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: configuration.maxFrameBytes,
                shouldUpgrade: { channel, head in
                    upgradeAsked.value = true
                    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    return channel.eventLoop.makeSucceededFuture(path == Gateway.path ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try gateway.open(on: channel)
                        return UpgradeResult.gateway
                    }
                })
            let http1 = http1
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try sync.addHandlers(http1.additionalChannelHandlers())
                        try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: http1.idleTimeout.map { .init($0) },
                                                                       logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgradeAsked.value ? .refused(http) : .notUpgraded(http)
                    }
                })
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrades)
            pipeline.enablePipelining = false  // one request at a time, as Hummingbird's own HTTP/1.1 channel
            pipeline.enableErrorHandling = false  // Hummingbird answers bad requests
            pipeline.enableResponseHeaderValidation = false  // Swift HTTP Types validates them
            pipeline.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: pipeline)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    /// Serves plain HTTP/1.1 until the connection closes; returns at once for a gateway connection.
    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .gateway:
                return
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http):
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close",
                                                                               .contentLength: "0"])),
                        .end(nil),
                    ])
                }
            }
        } catch let error as ChannelError where error == .inputClosed {
            // Closed before its first request was complete.
        } catch {
            logger.debug("connection ended before it was served", metadata: ["error": "\(error)"])
        }
    }
}

/// Why a connection was closed by ``GatewayChannel`` itself.
enum GatewayChannelError: Error {
    /// A WebSocket upgrade asked for on a connection that already served a request (answered with a redirect).
    case upgradeOnKeptAliveConnection
}
