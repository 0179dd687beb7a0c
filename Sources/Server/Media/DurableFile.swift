import Foundation

/// Crash-safe file writes: a temporary file in the same directory, written fully, fsynced, renamed into place,
/// and the directory fsynced, so after a crash a file is either absent or complete.
enum DurableFile {
    /// Writes `bytes` to `path`, replacing any file there.
    static func write(_ bytes: some Collection<UInt8>, to path: String) throws(MediaStorageError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/.tmp-" + UUID().uuidString
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MediaStorageError("cannot create '\(temporary)'", errno: errno) }
        var failure: MediaStorageError?
        let contiguous = ContiguousArray(bytes)
        contiguous.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = MediaStorageError("cannot write '\(temporary)'", errno: errno)
                    return
                }
                offset += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = MediaStorageError("cannot fsync '\(temporary)'", errno: errno) }
        if close(fd) != 0, failure == nil { failure = MediaStorageError("cannot close '\(temporary)'", errno: errno) }
        if failure == nil, rename(temporary, path) != 0 {
            failure = MediaStorageError("cannot rename '\(temporary)' to '\(path)'", errno: errno)
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        try syncDirectory(directory)
    }

    /// The file's bytes, or nil when it does not exist.
    static func read(_ path: String) throws(MediaStorageError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw MediaStorageError("cannot open '\(path)'", errno: errno)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MediaStorageError("cannot read '\(path)'", errno: errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// The size of a regular file, or nil when there is none.
    static func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Creates `path` and any missing parents; each new directory's parent is fsynced so the entry survives a crash.
    static func makeDirectory(_ path: String) throws(MediaStorageError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw MediaStorageError("'\(path)' exists and is not a directory")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw MediaStorageError("cannot create the directory '\(path)'", errno: errno)
        }
        try syncDirectory(parent.isEmpty ? "." : parent)
    }

    static func syncDirectory(_ path: String) throws(MediaStorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw MediaStorageError("cannot open the directory '\(path)'", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw MediaStorageError("cannot fsync the directory '\(path)'", errno: errno) }
    }
}
