import Foundation

/// A fresh directory under the system's temporary directory, removed when the last reference goes: the data
/// directory of a ``TestHub``, or one that two hubs share to test a restart.
public final class TemporaryDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// Creates an empty directory named `mynah-test-<uuid>`.
    public init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mynah-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
