/// The problems one read of a file has found so far, so that the read goes on past a problem and reports them all.
final class ConfigurationDiagnostics {
    private(set) var errors: [ConfigurationError] = []

    /// Records `error` (and the ones it carries).
    func record(_ error: ConfigurationError) {
        for e in error.all where !errors.contains(e) { errors.append(e) }
    }
}

extension YAMLWalker {
    /// Runs `body`; when it fails, records the error and gives `fallback`, so that the read goes on to the next
    /// problem. A value that failed is left at its default and nothing that depends on it is checked.
    func recovering<T>(_ fallback: T, _ body: () throws(ConfigurationError) -> T) -> T {
        do {
            return try body()
        } catch {
            diagnostics.record(error)
            return fallback
        }
    }

    /// Runs `body`, recording its error (see ``recovering(_:_:)``).
    func recovering(_ body: () throws(ConfigurationError) -> Void) {
        recovering((), body)
    }

    /// Throws what the read recorded, all in one error (the earliest first), if it recorded anything.
    func throwRecorded() throws(ConfigurationError) {
        if let error = ConfigurationError.combining(diagnostics.errors) { throw error }
    }
}
