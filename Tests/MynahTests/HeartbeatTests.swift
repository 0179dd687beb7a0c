import Foundation
import Hub
import Server
import Testing
@testable import Mynah
#if canImport(Glibc)
import Glibc
#endif

/// A peer that stops answering pings is closed by the server within two ping intervals.
@Suite struct HeartbeatTests {
    /// A WebSocket client written on a bare socket so that it can be a peer that never answers pings.
    struct SilentPeer {
        let fd: Int32

        /// Connects and sends the upgrade request; the peer reads only when told to, so it never answers pings.
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            // A safety net: no read waits longer than 10 s.
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            try write(Array("""
                GET /gateway HTTP/1.1\r
                Host: 127.0.0.1:\(port)\r
                Upgrade: websocket\r
                Connection: Upgrade\r
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
                Sec-WebSocket-Version: 13\r
                \r\n
                """.utf8))
        }

        func write(_ bytes: [UInt8]) throws {
            guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
                throw POSIXError(.EPIPE)
            }
        }

        /// Sends one masked text frame (payload under 126 bytes).
        func sendText(_ text: String) throws {
            let payload = Array(text.utf8)
            precondition(payload.count < 126)
            let mask: [UInt8] = [1, 2, 3, 4]
            try write([0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        }

        /// Reads until `marker` has arrived (false if the connection closed or a read timed out first).
        func readUntil(_ marker: String) -> (found: Bool, received: String) {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return (false, "recv \(n) errno \(errno) after: " + String(decoding: received, as: UTF8.self)) }
                received += buffer[0..<n]
                if String(decoding: received, as: UTF8.self).contains(marker) { return (true, "") }
            }
        }

        /// Reads until the server closes the TCP connection; returns false if the read timed out instead.
        func readUntilClosed() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return true }
                if n < 0 { return false }
            }
        }

        func close() { _ = Glibc.close(fd) }
    }

    @Test func aPeerThatDoesNotAnswerPingsIsDisconnected() async throws {
        // The ping timer starts at the upgrade, before the login: pings every 3 s leave the login time to finish
        // even while the whole suite starts at once on two cores (it took over a second then), so the test waits
        // for login_ok and then for the close, within two intervals.
        try await Demo.withDaemon(options: .init(passwordCost: 4, gateway: .init(pingInterval: .seconds(3)))) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let peer = try SilentPeer(port: port)
            defer { peer.close() }
            try peer.sendText(#"{"op":"login","appkey":"\#(Demo.appKey)","username":"alice","password":"alice-pass"}"#)
            let (loggedIn, closed) = await withCheckedContinuation { c in
                Thread.detachNewThread { c.resume(returning: (peer.readUntil("login_ok"), peer.readUntilClosed())) }
            }
            #expect(loggedIn.found, "no login_ok before the connection ended: \(loggedIn.received)")
            #expect(closed, "the server kept a silent peer for 10 s")
            let alice = try await daemon.hub.user(appKey: Demo.appKey, username: "alice")
            while !daemon.hub.presence.sessions(userID: alice.id).isEmpty { await Task.yield() }
            let stat = try await daemon.hub.userStat(appKey: Demo.appKey, username: "alice")
            #expect(stat.login && !stat.online)
        }
    }
}
