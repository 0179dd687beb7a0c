import Bridge
import Hub
import Hummingbird
import Logging
import NIOCore

/// The daemon's HTTP side: JMessage REST v1, the history API v2 and the WebSocket gateway on one port.
///
/// ```swift
/// let app = HTTPServer.application(hub: hub, configuration: .init(port: 0)) { port in print(port) }
/// try await app.run()   // a Service: put it into a ServiceGroup
/// ```
public enum HTTPServer {
    /// Where to listen and the gateway's limits.
    public struct Configuration: Sendable {
        /// Address to bind; 127.0.0.1 by default.
        public var host: String
        /// Port to bind; 0 lets the OS choose.
        public var port: Int
        /// Gateway limits.
        public var gateway: Gateway.Configuration
        /// Where uploaded media is kept (`<data-dir>/media`) when ``mediaStorage`` is not set; nil (and no
        /// storage) answers the media endpoints with an error.
        public var mediaDirectory: String?
        /// Where uploaded media is kept, when not in ``mediaDirectory`` (the cluster's database).
        package var mediaStorage: (any MediaStorage)?
        /// `GET /metrics` in the Prometheus format; `nil` leaves the route out.
        public var metrics: MetricsEndpoint?
        /// POST routes added by the composition (see `ExtraRoute`).
        public var extraRoutes: [ExtraRoute] = []
        /// `/console` and `/chat` (Console/ConsoleAPI.swift); `nil` leaves them out.
        public var console: ConsoleOptions?

        /// Creates a configuration.
        public init(host: String = "127.0.0.1", port: Int = 8080, gateway: Gateway.Configuration = .init(),
                    mediaDirectory: String? = nil, metrics: MetricsEndpoint? = nil, console: ConsoleOptions? = nil) {
            self.console = console
            self.metrics = metrics
            self.host = host
            self.port = port
            self.gateway = gateway
            self.mediaDirectory = mediaDirectory
        }
    }

    /// Builds the application; `onRunning` gets the bound port once the server listens.
    public static func application(
        hub: Hub, configuration: Configuration, bridge: Bridge? = nil, logger: Logger = Logger(label: "mynah.http"),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        // Before the routes: a middleware applies to the routes added after it.
        router.add(middleware: JMessageErrorMiddleware())
        router.get("/health") { _, _ in Response(status: .ok) }
        UsersAPI(hub: hub).register(on: router)
        MessagesAPI(hub: hub).register(on: router)
        AccountsAPI(hub: hub).register(on: router)
        RelationsAPI(hub: hub).register(on: router)
        GroupsAPI(hub: hub).register(on: router)
        ChatroomsAPI(hub: hub).register(on: router)
        SensitiveWordsAPI(hub: hub).register(on: router)
        MediaAPI(hub: hub, store: configuration.mediaStorage ?? configuration.mediaDirectory.map { MediaStore(directory: $0) })
            .register(on: router)
        if let bridge { PushAPI(hub: hub, bridge: bridge).register(on: router) }
        configuration.metrics?.register(on: router)
        register(configuration.extraRoutes, on: router)
        // Last: the console forwards to a responder of the routes above (the REST API's own handlers).
        if let console = configuration.console {
            ConsoleAPI(hub: hub, bridge: bridge, options: console, rest: router.buildResponder()).register(on: router)
        }

        let (server, gatewayShutdown) = Gateway.server(hub: hub, configuration: configuration.gateway, logger: logger)
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mynah"),
            services: [gatewayShutdown],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
