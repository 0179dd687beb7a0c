import Server

/// The `gateway:` section of `bots.yaml`: the WebSocket gateway's timers, for deployments whose clients sit behind
/// slow links or proxies with idle limits of their own. Each key left out keeps the gateway's default.
public struct GatewaySection: Sendable, Equatable {
    /// How long a new connection may take to send its login frame (`login_timeout:`); 10 s when absent.
    public var loginTimeout: Duration?
    /// How often the server pings each connection (`ping_interval:`); a peer silent for two intervals is closed.
    /// 30 s when absent; keep it under the idle timeout of any proxy in front.
    public var pingInterval: Duration?
    /// How long one write may wait for a client that does not read (`write_timeout:`); 15 s when absent.
    public var writeTimeout: Duration?

    /// Creates the section; `nil` keeps the gateway's default for that timer.
    public init(loginTimeout: Duration? = nil, pingInterval: Duration? = nil, writeTimeout: Duration? = nil) {
        self.loginTimeout = loginTimeout
        self.pingInterval = pingInterval
        self.writeTimeout = writeTimeout
    }

    /// `base` with the timers this section sets.
    public func applied(to base: Gateway.Configuration) -> Gateway.Configuration {
        var result = base
        if let loginTimeout { result.loginTimeout = loginTimeout }
        if let pingInterval { result.pingInterval = pingInterval }
        if let writeTimeout { result.writeTimeout = writeTimeout }
        return result
    }
}

extension ConfigurationReader {
    /// The keys of `gateway:`.
    static let gatewayKeys = ["login_timeout", "ping_interval", "write_timeout"]

    /// Reads `gateway:`; absent or empty keeps every default. Each timer is a duration from 1 s to its ceiling.
    func gateway(_ field: Field?) throws(ConfigurationError) -> GatewaySection {
        var result = GatewaySection()
        guard let field, let section = try optionalSection(field, keys: Self.gatewayKeys) else { return result }
        recovering { () throws(ConfigurationError) in
            result.loginTimeout = try gatewayTimer(section["login_timeout"], atMost: .seconds(600), "10m")
        }
        recovering { () throws(ConfigurationError) in
            result.pingInterval = try gatewayTimer(section["ping_interval"], atMost: .seconds(3600), "1h")
        }
        recovering { () throws(ConfigurationError) in
            result.writeTimeout = try gatewayTimer(section["write_timeout"], atMost: .seconds(600), "10m")
        }
        return result
    }

    /// One timer of `gateway:`: a duration from 1 s to `ceiling` (spelled `spelled` in the error).
    private func gatewayTimer(_ field: Field?, atMost ceiling: Duration, _ spelled: String)
        throws(ConfigurationError) -> Duration? {
        guard let field, let value = try duration(field) else { return nil }
        guard value <= ceiling else { throw error("expected a duration from 1s to \(spelled)", at: field) }
        return value
    }
}
