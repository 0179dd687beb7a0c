import Foundation

/// Why an uploaded file was refused (wrong type, damaged, too large); the API answers it as 899003.
package struct MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the file, without the field name.
    package var description: String

    /// Creates an error with its reason.
    package init(_ description: String) {
        self.description = description
    }
}

/// A failure of the media storage itself (disk full, permissions, a damaged record); a server fault, answered 899000.
package struct MediaStorageError: Error, Sendable, CustomStringConvertible {
    /// What failed, naming the file.
    package var description: String

    /// Creates an error; `errno` adds the system's reason.
    package init(_ description: String, errno code: Int32? = nil) {
        if let code {
            self.description = description + ": " + String(cString: strerror(code))
        } else {
            self.description = description
        }
    }
}
