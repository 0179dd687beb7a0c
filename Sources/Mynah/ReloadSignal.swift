import Foundation

/// Finds the running daemon through `<data_dir>/mynah.pid` and sends it SIGHUP (`mynah reload`).
public enum ReloadSignal {
    /// Why the signal could not be sent.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, with the pid file's path.
        public var description: String
    }

    /// Sends SIGHUP to the daemon whose data directory is `dataDirectory`; returns its pid.
    public static func send(dataDirectory: String) throws(Failure) -> Int32 {
        let path = (dataDirectory as NSString).appendingPathComponent("mynah.pid")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read '\(path)': is mynah running with this data directory?")
        }
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw Failure(description: "'\(path)' does not hold a process id")
        }
        guard kill(pid, SIGHUP) == 0 else {
            throw Failure(description: "cannot signal pid \(pid) from '\(path)': \(String(cString: strerror(errno)))")
        }
        return pid
    }
}
