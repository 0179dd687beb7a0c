// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mynah",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mynah", targets: ["mynah"]),
        .executable(name: "mynah-bench", targets: ["MynahBench"]),
        .library(name: "IMProtocol", targets: ["IMProtocol"]),
        .library(name: "IMClient", targets: ["IMClient"]),
        .library(name: "BotKit", targets: ["BotKit"]),
        .library(name: "Mynah", targets: ["Mynah"]),
        .library(name: "MynahTesting", targets: ["MynahTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
    ],
    targets: [
        // Wire types only: message protocol v1, gateway frames, error codes. Foundation only.
        .target(name: "IMProtocol", swiftSettings: swiftSettings),
        // The IM domain (apps, users, messages, inboxes) and its storage seam; SQLite through GRDB.
        .target(
            name: "Hub",
            dependencies: [
                "IMProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The push bridge: JPush v3 devices and pushes resolved to accounts, delivered by robots, receipts, escalation.
        .target(
            name: "Bridge",
            dependencies: [
                "Hub", "IMProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL stores (hub, bridge, plugin data) on postgres-nio: one database for several nodes.
        .target(
            name: "HubPostgres",
            dependencies: [
                "Hub", "Bridge", "IMProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP (JMessage REST v1, report v2, JPush v3) and the WebSocket gateway.
        .target(
            name: "Server",
            dependencies: [
                "Hub", "IMProtocol", "Bridge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            // The console's and the chat's pages, found at run time by ConsoleAssets (not through Bundle.module).
            resources: [.copy("Console/Static")],
            swiftSettings: swiftSettings
        ),
        // Client of the gateway, used by bots, tests and the benchmark.
        .target(
            name: "IMClient",
            dependencies: [
                "IMProtocol",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Plugin protocol and bot runtime; knows connections, never the hub.
        .target(
            name: "BotKit",
            dependencies: [
                "IMProtocol", "IMClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Echo", dependencies: ["BotKit"], path: "Plugins/Echo", swiftSettings: swiftSettings),
        .target(name: "Commands", dependencies: ["BotKit"], path: "Plugins/Commands", swiftSettings: swiftSettings),
        .target(name: "Relay", dependencies: ["BotKit"], path: "Plugins/Relay", swiftSettings: swiftSettings),
        .target(name: "Reminder", dependencies: ["BotKit"], path: "Plugins/Reminder", swiftSettings: swiftSettings),
        // Composition: configuration, services, lifecycle.
        .target(
            name: "Mynah",
            dependencies: [
                "IMProtocol", "Hub", "Server", "IMClient", "BotKit", "Echo", "Commands", "Relay", "Reminder", "Bridge",
                "HubPostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The test kit for bot authors: an embedded daemon on port 0, users over the gateway, a clock the test moves.
        .target(
            name: "MynahTesting",
            dependencies: ["Mynah", "BotKit", "IMClient", "Hub", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "mynah",
            dependencies: ["Mynah", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // The load generator's XMPP stream scanner (for the side-by-side runs against ejabberd); no dependencies.
        .target(name: "XMPPScanner", swiftSettings: swiftSettings),
        // The load generator: drives a running daemon over real sockets from its own process (BENCHMARKS.md).
        .executableTarget(
            name: "MynahBench",
            dependencies: [
                "IMProtocol", "XMPPScanner",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "IMProtocolTests", dependencies: ["IMProtocol"], swiftSettings: swiftSettings),
        .testTarget(name: "XMPPScannerTests", dependencies: ["XMPPScanner"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HubTests",
            dependencies: [
                "Hub", "IMProtocol", "HubPostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BridgeTests",
            dependencies: ["Bridge", "Hub", "IMProtocol", "HubPostgres", .product(name: "Logging", package: "swift-log"),
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Hub", "IMProtocol", "Bridge",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BotKitTests",
            dependencies: ["BotKit", "IMProtocol", "Echo", "Commands"],
            swiftSettings: swiftSettings
        ),
        // docs/testing.md's example, as written, and the check that the page shows exactly this file.
        .testTarget(name: "MynahTestingTests", dependencies: ["MynahTesting", "BotKit"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MynahTests",
            dependencies: [
                "Mynah", "IMClient", "IMProtocol", "BotKit", "Hub", "Server", "Relay", "Reminder", "Bridge", "Echo",
                "MynahTesting",
                "HubPostgres", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
