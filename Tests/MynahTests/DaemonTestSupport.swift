import Foundation
import Hub
import IMClient
import IMProtocol
import Logging
import MynahTesting
import Testing
@testable import Mynah
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The test kit's temporary directory (`MynahTesting`), removed when the test ends.
typealias TemporaryDirectory = MynahTesting.TemporaryDirectory

enum Demo {
    static let appKey = TestHub.appKey
    static let secret = TestHub.masterSecret
    static let basic = "Basic " + Data("\(appKey):\(secret)".utf8).base64EncodedString()

    /// The demo configuration on port 0 with its data in `dir`.
    static func configuration(dataDirectory: String) -> MynahConfiguration {
        MynahConfiguration(
            listen: .init(host: "127.0.0.1", port: 0),
            dataDirectory: dataDirectory,
            apps: [.init(appKey: appKey, masterSecret: secret, name: "Demo")],
            bots: [.init(name: "echo", appKey: appKey, username: "echo_bot", password: "echo-bot-secret",
                         nickname: "Echo", plugins: [.init(swift: "echo")])])
    }

    static func daemon(_ dir: TemporaryDirectory) async throws -> Daemon {
        var logger = Logger(label: "mynah.test")
        logger.logLevel = .warning
        return try await Daemon(configuration: configuration(dataDirectory: dir.path),
                                options: .init(passwordCost: 4), logger: logger)
    }

    static func client(port: Int, username: String, password: String, device: String = "default",
                       since: Int64? = nil) async throws -> IMClient {
        var logger = Logger(label: "mynah.test.client")
        logger.logLevel = .warning
        return try await IMClient.connect(
            .init(url: "ws://127.0.0.1:\(port)/gateway", appKey: appKey, username: username, password: password,
                  device: device, since: since),
            logger: logger
        ).client
    }
}

/// A minimal REST caller over a real socket.
struct REST {
    let port: Int

    func call(_ method: String, _ path: String, body: String? = nil, authorization: String? = Demo.basic)
        async throws -> (status: Int, json: JSONValue?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json;charset:utf-8", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        // Only JSON answers are parsed: /metrics is text.
        let type = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type") ?? "application/json"
        return (status, data.isEmpty || !type.contains("json") ? nil : try JSONValue.parse(data))
    }
}

extension AsyncStream where Element == ServerFrame.Delivery {
    /// The next delivery, failing the test when the stream ends first.
    func first() async throws -> ServerFrame.Delivery {
        var iterator = makeAsyncIterator()
        return try #require(await iterator.next())
    }
}

extension Demo {
    static func daemon(_ dir: TemporaryDirectory, options: Daemon.Options,
                       configure: (inout MynahConfiguration) -> Void = { _ in }) async throws -> Daemon {
        var logger = Logger(label: "mynah.test")
        logger.logLevel = .warning
        var config = configuration(dataDirectory: dir.path)
        configure(&config)
        return try await Daemon(configuration: config, options: options, logger: logger)
    }
}

extension Demo {
    /// Registers a user of the demo app.
    static func register(_ daemon: Daemon, _ username: String, password: String) async throws {
        _ = try await daemon.hub.register(appKey: appKey, NewUser(username: username, password: password), kind: .user)
    }
}

extension Demo {
    /// Runs the demo daemon on port 0 in its own temporary directory around `body`, which gets the daemon and
    /// its port.
    static func withDaemon(options: Daemon.Options = .init(passwordCost: 4),
                           configure: (inout MynahConfiguration) -> Void = { _ in },
                           _ body: @Sendable (Daemon, Int) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        let daemon = try await Demo.daemon(dir, options: options, configure: configure)
        try await daemon.withRunning { port in try await body(daemon, port) }
        withExtendedLifetime(dir) {}
    }
}
