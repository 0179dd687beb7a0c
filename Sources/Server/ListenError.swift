#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The HTTP server could not listen on its address: another process holds the port, or the address is not this
/// machine's. Says what to do about it.
public struct ListenError: Error, CustomStringConvertible {
    /// The address as `host:port`, e.g. `127.0.0.1:8080`.
    public let address: String
    /// Whether the port is taken by another socket (`EADDRINUSE`).
    public let isAddressInUse: Bool
    /// What the system said.
    public let reason: String

    /// Recognizes a failed bind of `host:port` in `error`; nil for any other error.
    public init?(_ error: any Error, host: String, port: Int) {
        guard let io = error as? IOError else { return nil }
        address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        isAddressInUse = io.errnoCode == EADDRINUSE
        reason = io.description
    }

    /// The message `mynah run` prints: the address, that it is taken, and what to do about it.
    public var description: String {
        if isAddressInUse {
            return "\(address) is already in use: run mynah with --port PORT (or change listen.port in the "
                + "configuration), or stop the process that holds it"
        }
        return "cannot listen on \(address): \(reason)"
    }
}
