/// A position in a configuration file; lines and columns are 1-based.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    /// The file name, as given to the loader.
    public var file: String
    /// The line, starting at 1.
    public var line: Int
    /// The column in Unicode scalars, starting at 1.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The placeholder location of values built in code rather than read from a file (`<code>:0:0`).
    public static let inCode = SourceLocation(file: "<code>", line: 0, column: 0)

    /// The location as `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}
