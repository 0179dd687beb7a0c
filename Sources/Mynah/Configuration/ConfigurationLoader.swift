import Foundation
import Yams

/// Reads `bots.yaml` into a ``MynahConfiguration``, reporting every problem of the file in one
/// ``ConfigurationError`` (the first, with the others as ``ConfigurationError/additional``), each located at
/// `file:line:column`. A YAML syntax error stops the read: it is the only one reported.
///
/// Every scalar value may refer to the environment: `${VAR}` (an error when unset), `${VAR:-default}`
/// (the default when unset or empty) and `$$` for a literal `$`.
///
/// ```swift
/// do {
///     let configuration = try ConfigurationLoader.load(path: "bots.yaml")
/// } catch {
///     print(error)  // bots.yaml:3:3: listen: unknown key 'prot'; did you mean 'port'?
/// }
/// ```
public enum ConfigurationLoader {
    /// Reads and validates the configuration file at `path`; errors name the file exactly as `path` is given.
    /// - Parameters:
    ///   - path: The file to read.
    ///   - environment: The variables `${...}` refers to; defaults to the process environment.
    ///   - validate: Checks what reading alone cannot (``Daemon/check(_:registry:)``); its problems are reported
    ///     together with the file's.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        validate: ((MynahConfiguration) throws(ConfigurationError) -> Void)? = nil
    ) throws(ConfigurationError) -> MynahConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(
                location: nil,
                path: "",
                message: "cannot read configuration file '\(path)': \(readFailureReason(path: path, error: error))"
            )
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(
                location: firstInvalidUTF8Location(in: data, file: path),
                path: "",
                message: "the file is not valid UTF-8"
            )
        }
        return try parse(yaml: yaml, fileName: path, environment: environment, validate: validate)
    }

    /// Parses and validates configuration text.
    /// - Parameters:
    ///   - yaml: The contents of a `bots.yaml` file.
    ///   - fileName: The name used in error locations.
    ///   - environment: The variables `${...}` refers to; defaults to the process environment.
    ///   - validate: Checks what reading alone cannot; its problems are reported with the file's.
    public static func parse(
        yaml: String,
        fileName: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        validate: ((MynahConfiguration) throws(ConfigurationError) -> Void)? = nil
    ) throws(ConfigurationError) -> MynahConfiguration {
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as Yams.YamlError {
            throw syntaxError(error, yaml: yaml, fileName: fileName)
        } catch {
            throw ConfigurationError(
                location: SourceLocation(file: fileName, line: 1, column: 1),
                path: "",
                message: "cannot parse YAML: \(error)"
            )
        }
        let reader = ConfigurationReader(fileName: fileName, environment: environment)
        return try reader.configuration(from: root, validate: validate)
    }

    /// Turns a Yams parse failure into an error at the parser's own line and column.
    static func syntaxError(_ error: Yams.YamlError, yaml: String, fileName: String) -> ConfigurationError {
        func located(_ position: (line: Int, column: Int), _ message: String) -> ConfigurationError {
            ConfigurationError(
                location: SourceLocation(file: fileName, line: position.line, column: position.column),
                path: "",
                message: message
            )
        }
        func withContext(_ problem: String, _ context: Yams.YamlError.Context?) -> String {
            guard let context else { return problem }
            guard context.text.hasPrefix("while") else {
                return "\(context.text), \(problem)"  // "expected a single document in the stream, but found another document"
            }
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return located((mark.line, mark.column), withContext(problem, context))
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams points at the first occurrence.
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            let message = duplicates.count == 1 ? "key \(keys) appears" : "keys \(keys) appear"
            return located((context.mark.line, context.mark.column), "\(message) more than once in this mapping")
        case .reader(let problem, let offset, _, _):
            return located(position(atCharacterOffset: offset ?? 0, in: yaml), problem)
        default:
            return located((1, 1), "cannot parse YAML: \(error)")
        }
    }

    /// The 1-based line and column (in Unicode scalars) of a character offset.
    private static func position(atCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return (line, column)
    }

    /// Why a file could not be read, in words a user can act on.
    private static func readFailureReason(path: String, error: any Error) -> String {
        var isDirectory: ObjCBool = false
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file"
        }
        if isDirectory.boolValue {
            return "it is a directory"
        }
        if !fileManager.isReadableFile(atPath: path) {
            return "permission denied"
        }
        return error.localizedDescription
    }

    /// The location of the first byte sequence that is not UTF-8, columns counted in Unicode scalars.
    private static func firstInvalidUTF8Location(in data: Data, file: String) -> SourceLocation {
        var line = 1
        var column = 1
        var iterator = data.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput, .error:
                return SourceLocation(file: file, line: line, column: column)
            }
        }
    }
}
