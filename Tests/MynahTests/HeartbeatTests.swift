import Foundation
import Hub
import Server
import Testing
@testable import Mynah
#if canImport(Glibc)
import Glibc
#endif

/// A peer that stops answering pings is closed by the server within two ping intervals, and the gateway's timers
/// follow `gateway:` of bots.yaml.
@Suite struct HeartbeatTests {
    /// A WebSocket client written on a bare socket so that it can be a peer that stops answering pings.
    final class SilentPeer: @unchecked Sendable {
        let fd: Int32
        /// Bytes read and not yet parsed; touched by one thread at a time (the reads are sequential).
        private var pending: [UInt8] = []
        private var upgraded = false

        /// Connects and sends the upgrade request; the peer reads only when told to.
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
            // A hang guard only: no read waits longer than 60 s (the server's own timers are what is tested).
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
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

        /// Sends one masked frame (payload under 126 bytes).
        func sendFrame(opcode: UInt8, _ payload: [UInt8]) throws {
            precondition(payload.count < 126)
            let mask: [UInt8] = [1, 2, 3, 4]
            try write([0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
                      + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        }

        /// Sends one masked text frame (payload under 126 bytes).
        func sendText(_ text: String) throws {
            try sendFrame(opcode: 0x1, Array(text.utf8))
        }

        /// Reads frames until a text frame containing `marker` has arrived, answering the server's pings with
        /// pongs on the way (false if the connection ended or a read timed out first).
        func readUntil(_ marker: String) -> (found: Bool, received: String) {
            var texts = ""
            while true {
                guard let (opcode, payload) = nextFrame() else {
                    return (false, "connection ended (errno \(errno)) after: " + texts)
                }
                switch opcode {
                case 0x9:
                    do { try sendFrame(opcode: 0xA, payload) } catch { return (false, "pong failed after: " + texts) }
                case 0x1:
                    let text = String(decoding: payload, as: UTF8.self)
                    if text.contains(marker) { return (true, "") }
                    texts += text
                default:
                    break
                }
            }
        }

        /// The next text frame's payload, answering the server's pings on the way; nil if the connection ended or a
        /// read timed out first.
        func nextText() -> String? {
            while let (opcode, payload) = nextFrame() {
                switch opcode {
                case 0x9: guard (try? sendFrame(opcode: 0xA, payload)) != nil else { return nil }
                case 0x1: return String(decoding: payload, as: UTF8.self)
                default: break
                }
            }
            return nil
        }

        /// Reads, answering nothing, until the server closes the TCP connection; false if a read timed out.
        func readUntilClosed() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return true }
                if n < 0 { return false }
            }
        }

        /// The next whole frame after the upgrade response (opcode, unmasked payload); nil when the connection
        /// ended or a read timed out.
        private func nextFrame() -> (UInt8, [UInt8])? {
            while true {
                if !upgraded, let end = headerEnd() {
                    pending.removeFirst(end)
                    upgraded = true
                }
                if upgraded, let frame = parseFrame() { return frame }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return nil }
                pending += buffer[0..<n]
            }
        }

        /// Where the upgrade response's headers end in `pending`, once they have all arrived.
        private func headerEnd() -> Int? {
            guard pending.count >= 4 else { return nil }
            for i in 0...(pending.count - 4) where pending[i..<(i + 4)].elementsEqual([13, 10, 13, 10]) { return i + 4 }
            return nil
        }

        /// Removes and returns one frame from `pending` if it holds a whole one.
        private func parseFrame() -> (UInt8, [UInt8])? {
            guard pending.count >= 2 else { return nil }
            var offset = 2
            var length = Int(pending[1] & 0x7F)
            let extra = length == 126 ? 2 : length == 127 ? 8 : 0
            guard pending.count >= offset + extra else { return nil }
            if extra > 0 {
                length = pending[offset..<(offset + extra)].reduce(0) { $0 << 8 | Int($1) }
                offset += extra
            }
            let masked = pending[1] & 0x80 != 0
            let mask = masked ? Array(pending[offset..<min(offset + 4, pending.count)]) : []
            offset += masked ? 4 : 0
            guard pending.count >= offset + length else { return nil }
            var payload = Array(pending[offset..<(offset + length)])
            if masked { payload = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] } }
            let opcode = pending[0] & 0x0F
            pending.removeFirst(offset + length)
            return (opcode, payload)
        }

        func close() { _ = Glibc.close(fd) }
    }

    @Test func aPeerThatDoesNotAnswerPingsIsDisconnected() async throws {
        // The ping timer starts at the upgrade, before the login: the peer answers pings until its login_ok (which
        // may take long while the whole suite starts at once on two cores), then goes silent; the server must close
        // it within two intervals.
        try await Demo.withDaemon(options: .init(passwordCost: 4, gateway: .init(pingInterval: .seconds(3)))) { daemon, port in
            try await Demo.register(daemon, "alice", password: "alice-pass")
            let peer = try SilentPeer(port: port)
            defer { peer.close() }
            try peer.sendText(#"{"op":"login","appkey":"\#(Demo.appKey)","username":"alice","password":"alice-pass"}"#)
            let (loggedIn, closed) = await withCheckedContinuation { c in
                Thread.detachNewThread { c.resume(returning: (peer.readUntil("login_ok"), peer.readUntilClosed())) }
            }
            #expect(loggedIn.found, "no login_ok before the connection ended: \(loggedIn.received)")
            #expect(closed, "the server kept a silent peer for 60 s")
            let alice = try await daemon.hub.user(appKey: Demo.appKey, username: "alice")
            while !daemon.hub.presence.sessions(userID: alice.id).isEmpty { await Task.yield() }
            let stat = try await daemon.hub.userStat(appKey: Demo.appKey, username: "alice")
            #expect(stat.login && !stat.online)
        }
    }
}
