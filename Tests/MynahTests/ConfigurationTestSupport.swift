import Testing

@testable import Mynah

/// `yaml` read as `bots.yaml` is, without environment variables (the configuration suites of one section each).
func parseConfiguration(_ yaml: String) throws(ConfigurationError) -> MynahConfiguration {
    try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: [:])
}

/// The error `yaml` is refused with, as the daemon prints it; records an issue and returns nil when it is accepted.
func configurationFailure(_ yaml: String) -> String? {
    do {
        _ = try parseConfiguration(yaml)
        Issue.record("expected an error")
        return nil
    } catch {
        return error.description
    }
}
