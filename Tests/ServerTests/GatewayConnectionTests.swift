import Foundation
import Hub
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import Server

/// ``GatewayConnections`` and ``GatewayHandler`` on an embedded channel: a connection's session ends with its input,
/// a half-closed connection (a client's FIN, as Hummingbird reports it) is ended and closed, and nothing of an ended
/// connection stays in memory.
@Suite struct GatewayConnectionTests {
    /// A registry over a fresh hub in a temporary directory, and a connected embedded channel with a connection's
    /// handlers.
    static func withConnection(_ body: (GatewayConnections, EmbeddedChannel) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-gateway-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let hub = try await Hub(configuration: .init(apps: Apps.settings, passwordCost: 4),
                                store: try SQLiteHubStore(path: dir.path + "/hub.sqlite"))
        let connections = GatewayConnections(hub: hub, configuration: .init(), logger: Logger(label: "test"))
        let channel = EmbeddedChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try connections.open(on: channel)
        #expect(connections.count == 1)
        try await body(connections, channel)
    }

    /// Waits (without a fixed sleep) until `condition` holds, for at most 10 seconds.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            await Task.yield()
        }
        return true
    }

    @Test func aClosedConnectionsSessionEndsAndNothingOfItStays() async throws {
        try await Self.withConnection { connections, channel in
            weak let connection = try channel.pipeline.syncOperations.handler(type: GatewayHandler.self).connection
            try await channel.close().get()
            channel.embeddedEventLoop.run()  // the pipeline's handlers are removed in a later turn
            #expect(await Self.eventually { connections.count == 0 })
            // The handler and the connection held each other until the session ended.
            #expect(await Self.eventually { connection == nil })
        }
    }

    @Test func aHalfClosedConnectionIsEndedAndClosed() async throws {
        try await Self.withConnection { connections, channel in
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            #expect(!channel.isActive)
            #expect(await Self.eventually { connections.count == 0 })
        }
    }
}
