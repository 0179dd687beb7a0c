import Foundation
import Glibc
import IMClient
import IMProtocol
import Logging
import MynahTesting
import Testing

/// docs/examples/nginx.conf, run as written but for its ports, in front of three nodes on one PostgreSQL database:
/// REST and the WebSocket gateway work through it, and after two of the nodes are killed, the clients reconnect
/// through it to the third and resume with nothing lost or repeated. `.ci/run` installs nginx from Debian. Part of
/// ``ClusterTests``, whose tests run one at a time: two sets of three daemons starting at once beside the rest of
/// the suite starved the machine (a 10 s login timeout in one CI run).
extension ClusterTests {
    static let nginxExample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/examples/nginx.conf")

    /// nginx as a child process on the example configuration, its upstreams pointed at `ports` and its listener at
    /// a free port; stopped by `stop()`.
    final class Nginx {
        let process: ChildProcess
        let port: Int
        let directory: TemporaryDirectory

        init(upstreams ports: [Int]) throws {
            guard let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
            else {
                throw NginxFailure("nginx is not installed (`apt-get install nginx`; .ci/run installs it)")
            }
            directory = try TemporaryDirectory()
            // Writable by nginx's workers, which run as another user when the test runs as root.
            try FileManager.default.createDirectory(atPath: directory.path + "/tmp", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o777])
            port = try Self.freePort()
            var config = try String(contentsOf: ClusterTests.nginxExample, encoding: .utf8)
            for (i, upstream) in ports.enumerated() {
                // Both upstream blocks (REST with keep-alive, the gateway without) name each node.
                config = config.replacingOccurrences(of: "server 127.0.0.1:808\(i + 1) ", with: "server 127.0.0.1:\(upstream) ")
            }
            config = config.replacingOccurrences(of: "listen 127.0.0.1:8080;", with: "listen 127.0.0.1:\(port);")
            let path = directory.path + "/nginx.conf"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-p", directory.path, "-c", path, "-e", directory.path + "/error.log"]
            try process.run()
        }

        /// A port no one listens on now (the OS picks it; nginx binds it right after).
        static func freePort() throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0 else { throw NginxFailure("bind: errno \(errno)") }
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw NginxFailure("getsockname: errno \(errno)") }
            return Int(UInt16(bigEndian: address.sin_port))
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }

        /// nginx's error log, for a failure's message.
        var errorLog: String { (try? String(contentsOfFile: directory.path + "/error.log", encoding: .utf8)) ?? "" }
    }

    struct NginxFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func clientThroughNginx(port: Int, _ name: String) async throws -> IMClient {
        var logger = Logger(label: "mynah.test.client")
        logger.logLevel = .warning
        return try await IMClient.connect(
            .init(url: "ws://127.0.0.1:\(port)/gateway", appKey: Demo.appKey, username: name, password: "pass-\(name)"),
            reconnect: .init(initialDelay: .milliseconds(20), maxDelay: .milliseconds(200)), logger: logger).client
    }

    /// Sends until the hub accepts it, through whichever node the client is connected to now; the request id
    /// makes a resend after a dropped connection store the message once.
    static func sendRetrying(_ text: String, from client: IMClient, to target: String) async throws -> ServerFrame.Sent {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                return try await client.send(.init(requestID: text, targetID: target, body: .text(text)))
            } catch IMClient.Failure.connectionClosed where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test func theExampleConfigurationServesRESTAndTheGatewayAndSurvivesTwoDeadNodes() async throws {
        try await ClusterTests.withNodes(3) { nodes in
            let nginx = try Nginx(upstreams: nodes.map(\.port))
            defer { nginx.stop() }
            let rest = REST(port: nginx.port)
            let up = await ClusterTests.eventually(within: .seconds(20)) {
                (try? await rest.call("GET", "/health").status) == 200
            }
            try #require(up, "nginx did not answer on \(nginx.port): \(nginx.errorLog)")

            let registered = try await rest.call("POST", "/v1/users/", body: """
                [{"username":"alice","password":"pass-alice"},{"username":"bob_b","password":"pass-bob_b"}]
                """)
            #expect(registered.status == 201)
            let alice: IMClient, bob: IMClient
            do {
                alice = try await Self.clientThroughNginx(port: nginx.port, "alice")
                bob = try await Self.clientThroughNginx(port: nginx.port, "bob_b")
            } catch {
                Issue.record("no gateway session through nginx (\(error)); its log: \(nginx.errorLog)")
                throw error
            }
            var inbox = bob.messages.makeAsyncIterator()
            _ = try await Self.sendRetrying("before", from: alice, to: "bob_b")
            let first = try #require(await inbox.next())
            #expect(first.seq == 1 && first.stored.message.body.text == "before")

            // Two of the three nodes die: nginx skips them, and the clients reconnect through it to the third.
            nodes[0].kill9()
            nodes[1].kill9()
            #expect(try await rest.call("GET", "/v1/users/alice").status == 200)
            for i in 1...5 { _ = try await Self.sendRetrying("after \(i)", from: alice, to: "bob_b") }
            for i in 1...5 {
                let next = try #require(await inbox.next())
                #expect(next.seq == Int64(1 + i) && next.stored.message.body.text == "after \(i)")
            }
            alice.close()
            bob.close()
        }
    }
}
