import Hub

extension ConfigurationReader {
    /// The shortest master secret accepted when the daemon is reachable from other machines.
    static let minimumSecretLength = 16

    /// Refuses a master secret shorter than ``minimumSecretLength`` characters unless `listenHost` is loopback only,
    /// where it is only warned about (``MynahConfiguration/warnings``): a short secret is guessed over the network.
    func checkSecretLength(_ secret: String, _ field: Field, listenHost: String) throws(ConfigurationError) {
        guard secret.count < Self.minimumSecretLength, !Daemon.isLoopback(listenHost) else { return }
        throw error("expected at least \(Self.minimumSecretLength) characters, got \(secret.count): the daemon listens on "
                    + "\(quoted(listenHost)), reachable from other machines (a short secret is allowed on loopback only)",
                    at: field)
    }
}

extension MynahConfiguration {
    /// What is allowed but unsafe: short master secrets on loopback, `/metrics` open beyond loopback. `mynah run`
    /// logs these at start and `mynah check` prints them.
    public var warnings: [String] {
        var warnings: [String] = []
        let minimum = ConfigurationReader.minimumSecretLength
        for (index, app) in apps.enumerated() where app.masterSecret.count < minimum {
            warnings.append("apps[\(index)].master_secret: shorter than \(minimum) characters, "
                + (Daemon.isLoopback(listen.host)
                    ? "allowed only because the daemon listens on loopback (\(listen.host))"
                    : "and the daemon listens on \(listen.host), reachable from other machines"))
        }
        if metrics.enabled, metrics.token == nil, !Daemon.isLoopback(listen.host) {
            warnings.append("GET /metrics is open to anyone who reaches \(listen.host); set metrics.token or "
                            + "metrics.enabled: false")
        }
        return warnings
    }
}
