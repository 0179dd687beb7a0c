import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain TCP socket on 127.0.0.1 for tests that speak bytes a library would never send (handcrafted WebSocket
/// frames) or that hold a port. Blocking calls run on a thread of their own, never on a concurrency thread.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    private static func tcpSocket() throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return fd
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A socket listening on 127.0.0.1 on a port the OS chose, holding that port until it is released.
    static func listening() throws -> (socket: RawSocket, port: Int) {
        let fd = try tcpSocket()
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (RawSocket(fd: fd), Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Connects to 127.0.0.1:`port`.
    static func connect(port: Int) async throws -> RawSocket {
        try await blocking {
            let fd = try tcpSocket()
            var address = loopback(port: port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    posixConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(fd)
                throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED)
            }
            // A safety net only: a server that never answers fails the read instead of hanging the test.
            var patience = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, socklen_t(MemoryLayout<timeval>.size))
            return RawSocket(fd: fd)
        }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) async throws {
        try await Self.blocking { [fd] in
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EPIPE) }
                offset += n
            }
        }
    }

    /// Reads exactly `count` bytes; fewer when the peer closes first.
    func read(_ count: Int) async throws -> [UInt8] {
        try await Self.blocking { [fd] in
            var buffer = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let n = buffer[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { break }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                offset += n
            }
            return Array(buffer[..<offset])
        }
    }

    /// Reads until `terminator` (included), e.g. the blank line after HTTP headers.
    func read(until terminator: [UInt8]) async throws -> [UInt8] {
        // One thread for the whole read: a thread per byte is slow on a loaded machine.
        try await Self.blocking { [fd] in
            var received: [UInt8] = []
            var byte: UInt8 = 0
            while !received.ends(with: terminator) {
                let n = recv(fd, &byte, 1, 0)
                if n < 0 && errno == EINTR { continue }
                if n == 0 { break }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                received.append(byte)
            }
            return received
        }
    }

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            Thread.detachNewThread { c.resume(with: Result { try body() }) }
        }
    }
}

private func posixConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}

/// A WebSocket client made of raw bytes, for frames no library would send: unmasked, invalid UTF-8.
struct RawWebSocket {
    let socket: RawSocket

    /// A WebSocket frame as read from the server.
    struct Frame {
        var opcode: UInt8
        var payload: [UInt8]

        /// The status code of a close frame (RFC 6455 §5.5.1).
        var closeCode: Int? {
            opcode == 0x8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
        }

        /// The payload as text.
        var text: String { String(decoding: payload, as: UTF8.self) }
    }

    /// Connects to 127.0.0.1:`port` and upgrades `path` to a WebSocket.
    static func connect(port: Int, path: String = "/gateway") async throws -> RawWebSocket {
        let socket = try await RawSocket.connect(port: port)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try await socket.write(Array(request.utf8))
        let head = String(decoding: try await socket.read(until: Array("\r\n\r\n".utf8)), as: UTF8.self)
        guard head.hasPrefix("HTTP/1.1 101") else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no upgrade: \(head)"])
        }
        return RawWebSocket(socket: socket)
    }

    /// The bytes of one frame, the last of its message unless `fin` is false; masked with a fixed key unless
    /// `masked` is false.
    static func frame(opcode: UInt8, payload: [UInt8], masked: Bool = true, fin: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: bytes.append(maskBit | UInt8(payload.count))
        case ..<65536: bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default: bytes += [maskBit | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        guard masked else { return bytes + payload }
        let key: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        return bytes + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    /// Sends one frame (see ``frame(opcode:payload:masked:fin:)``).
    func send(opcode: UInt8, payload: [UInt8], masked: Bool = true, fin: Bool = true) async throws {
        try await socket.write(Self.frame(opcode: opcode, payload: payload, masked: masked, fin: fin))
    }

    /// Sends a masked text frame.
    func send(text: String) async throws {
        try await send(opcode: 0x1, payload: Array(text.utf8))
    }

    /// The next frame from the server; nil when the connection ends first.
    func next() async throws -> Frame? {
        let head = try await socket.read(2)
        guard head.count == 2 else { return nil }
        var length = Int(head[1] & 0x7f)
        if length == 126 {
            length = try await socket.read(2).reduce(0) { $0 << 8 | Int($1) }
        } else if length == 127 {
            length = try await socket.read(8).reduce(0) { $0 << 8 | Int($1) }
        }
        let payload = try await socket.read(length)
        guard payload.count == length else { return nil }
        return Frame(opcode: head[0] & 0x0f, payload: payload)
    }

    /// The close frame the server sends, skipping other frames; nil when the connection ends without one.
    func closeFrame() async throws -> Frame? {
        while let frame = try await next() {
            if frame.opcode == 0x8 { return frame }
        }
        return nil
    }
}
