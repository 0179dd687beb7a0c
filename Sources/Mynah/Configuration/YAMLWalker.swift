import Foundation
import IMProtocol
import Yams

/// A walk over a composed YAML tree that keeps every value's path and line:column: typed accessors for scalars
/// (after `${...}` interpolation and tag resolution), mappings checked against the keys they allow, lists, free-form
/// JSON values, and errors located at the node they are about. Generic over what the document means: the schema
/// (``ConfigurationReader``) is built on it.
///
/// Every failure is a ``ConfigurationError`` at the node it is about: unknown keys at the key, type and validation
/// errors at the value, missing keys at the mapping that lacks them. Unknown keys are recorded in `diagnostics`
/// rather than thrown, so that one read reports all of them.
protocol YAMLWalker {
    /// The file name used in error locations.
    var fileName: String { get }
    /// The variables `${...}` refers to.
    var environment: [String: String] { get }
    /// The problems found so far.
    var diagnostics: ConfigurationDiagnostics { get }
}

/// A value in the tree with its path and, for values of a mapping, its key.
struct YAMLField {
    var key: Yams.Node?
    var value: Yams.Node
    var path: String

    /// Where errors about the value point: the value itself, or its key when the value is empty
    /// (an empty scalar's position is wherever the parser noticed it ended).
    var mark: Yams.Mark? {
        if case .scalar(let scalar) = value, scalar.string.isEmpty, scalar.style == .plain || scalar.style == .any,
            let keyMark = key?.mark
        {
            return keyMark
        }
        return value.mark
    }
}

/// A mapping whose keys have all been checked.
struct YAMLSection {
    var mark: Yams.Mark?
    var path: String
    var fields: [String: YAMLField]
    /// The error about each unknown key, by the known key it is probably a typo of: a required key missing for
    /// that reason is not reported a second time.
    var typos: [String: ConfigurationError] = [:]

    subscript(key: String) -> YAMLField? { fields[key] }
}

/// What a scalar means once interpolated and resolved.
enum YAMLScalarKind {
    case string, int, float, bool, null
}

/// A scalar after environment interpolation and tag resolution.
struct YAMLScalar {
    var text: String
    var kind: YAMLScalarKind
}

/// The walk's vocabulary and its accessors, for every walker.
extension YAMLWalker {
    /// A value with its path (see ``YAMLField``).
    typealias Field = YAMLField
    /// A checked mapping (see ``YAMLSection``).
    typealias Section = YAMLSection
    /// A resolved scalar (see ``YAMLScalar``).
    typealias Scalar = YAMLScalar
    /// What a scalar means (see ``YAMLScalarKind``).
    typealias ScalarKind = YAMLScalarKind

    // MARK: - Validation

    /// Fails unless `value` has at least one character.
    func requireNonEmpty(_ value: String, _ field: Field) throws(ConfigurationError) {
        if value.isEmpty { throw error("must not be empty", at: field) }
    }

    /// Whether the scalar is in `[A-Za-z0-9_-]`.
    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool { YAMLCharacters.isNameCharacter(scalar) }

    /// Whether the scalar is `A`-`Z` or `a`-`z`.
    static func isASCIILetter(_ scalar: Unicode.Scalar) -> Bool { YAMLCharacters.isASCIILetter(scalar) }

    /// Whether the scalar is `0`-`9`.
    static func isASCIIDigit(_ scalar: Unicode.Scalar) -> Bool { YAMLCharacters.isASCIIDigit(scalar) }

    // MARK: - Structure

    /// The mapping `field` holds, after checking that every key is one of `keys`.
    func section(
        _ field: Field,
        keys: [String],
        expected: String = "a mapping"
    ) throws(ConfigurationError) -> Section {
        guard case .mapping(let mapping) = field.value else {
            throw mismatch(field, expected: expected)
        }
        var fields: [String: Field] = [:]
        var typos: [String: ConfigurationError] = [:]
        for (key, value) in mapping {
            let name = try keyName(key, in: field)
            guard keys.contains(name) else {
                // Recorded, not thrown: the section's known keys are still read, and every unknown key reported.
                let unknown = ConfigurationError(location: location(key.mark), path: field.path,
                                                 message: unknownKeyMessage(name, known: keys))
                diagnostics.record(unknown)
                if let suggestion = Self.closest(to: name, among: keys) { typos[suggestion] = unknown }
                continue
            }
            fields[name] = Field(key: key, value: value, path: Self.member(field.path, name))
        }
        return Section(mark: mapping.mark, path: field.path, fields: fields, typos: typos)
    }

    /// Whether the value is empty or null: an optional key written without a value, which means its default.
    func isNull(_ field: Field) throws(ConfigurationError) -> Bool {
        if case .scalar = field.value { return try scalar(field).kind == .null }
        return false
    }

    /// Like ``section(_:keys:expected:)``, but `nil` when the value is empty or null.
    func optionalSection(_ field: Field, keys: [String]) throws(ConfigurationError) -> Section? {
        if case .scalar = field.value, try scalar(field).kind == .null { return nil }
        return try section(field, keys: keys)
    }

    /// The items of the list `field` holds, each with its indexed path; `nil` when the value is empty or null.
    func optionalSequence(_ field: Field) throws(ConfigurationError) -> [Field]? {
        switch field.value {
        case .sequence(let sequence):
            return sequence.enumerated().map { index, node in
                Field(key: nil, value: node, path: "\(field.path)[\(index)]")
            }
        case .scalar:
            if try scalar(field).kind == .null { return nil }
            throw mismatch(field, expected: "a list")
        default:
            throw mismatch(field, expected: "a list")
        }
    }

    /// The field for `key`, or a "missing required key" error at the mapping.
    func required(_ section: Section, _ key: String) throws(ConfigurationError) -> Field {
        guard let field = section[key] else {
            // Already reported as the unknown key that is its typo; throwing that again records nothing new.
            if let typo = section.typos[key] { throw typo }
            throw ConfigurationError(
                location: location(section.mark),
                path: Self.member(section.path, key),
                message: "missing required key"
            )
        }
        return field
    }

    /// The message for a key a section does not allow, suggesting the closest allowed key.
    func unknownKeyMessage(_ key: String, known: [String]) -> String {
        if key == "<<" {
            return "merge keys ('<<') are not supported"
        }
        var message = "unknown key \(quoted(key))"
        if let suggestion = Self.closest(to: key, among: known) {
            message += "; did you mean \(quoted(suggestion))?"
        }
        return message
    }

    // MARK: - Scalars

    /// The interpolated and resolved scalar `field` holds, or a type error naming `expected`.
    func scalar(_ field: Field, expected: String = "a scalar") throws(ConfigurationError) -> Scalar {
        guard case .scalar(let node) = field.value else {
            throw mismatch(field, expected: expected)
        }
        let text: String
        do {
            text = try EnvironmentInterpolation.expand(node.string, environment: environment)
        } catch {
            throw self.error(error.message, at: field)
        }
        // Quoted and block scalars carry `!!str` already; plain ones are resolved after interpolation, so that
        // `port: ${PORT:-8080}` is an integer.
        let declared = Yams.Tag.Name(rawValue: node.tag.description)
        let resolved: Yams.Tag.Name
        switch declared {
        case .implicit where text.isEmpty && node.string.contains("${"):
            // A variable set to nothing is an empty string, never an absent key: `secret: ${HOOK_SECRET}` with an
            // empty HOOK_SECRET must be refused as empty, not silently mean "no secret".
            resolved = .str
        case .implicit:
            resolved = node.style == .plain || node.style == .any ? Yams.Resolver.default.resolveTag(of: Yams.Node(text)) : .str
        case .nonSpecific:
            resolved = .str
        default:
            resolved = declared
        }
        switch resolved {
        case .str, .timestamp, .merge, .value: return Scalar(text: text, kind: .string)
        case .int: return Scalar(text: text, kind: .int)
        case .float: return Scalar(text: text, kind: .float)
        case .bool: return Scalar(text: text, kind: .bool)
        case .null: return Scalar(text: text, kind: .null)
        default: throw error("unsupported tag '\(declared.rawValue)'", at: field)
        }
    }

    /// The text of a scalar (numbers and booleans as written); `nil` when empty or null.
    func string(_ field: Field) throws(ConfigurationError) -> String? {
        let value = try scalar(field, expected: "a string")
        return value.kind == .null ? nil : value.text
    }

    /// The string for an optional key; `nil` when absent, empty or null.
    func optionalString(_ section: Section, _ key: String) throws(ConfigurationError) -> String? {
        guard let field = section[key] else { return nil }
        return try string(field)
    }

    /// The string for a required key, with its field for later errors.
    func requiredString(_ section: Section, _ key: String) throws(ConfigurationError) -> (String, Field) {
        let field = try required(section, key)
        guard let value = try string(field) else {
            throw mismatch(field, expected: "a string")
        }
        return (value, field)
    }

    /// The integer a scalar holds; `nil` when empty or null.
    func integer(_ field: Field) throws(ConfigurationError) -> Int? {
        let value = try scalar(field, expected: "an integer")
        switch value.kind {
        case .null:
            return nil
        case .int:
            guard let number = Int.construct(from: Yams.Node.Scalar(value.text, Yams.Tag(.int), .plain)) else {
                throw error("expected an integer, got \(quoted(value.text)), which is out of range", at: field)
            }
            return number
        default:
            throw mismatch(field, expected: "an integer")
        }
    }

    /// A positive duration: whole seconds (`3600`) or a number with one unit, `s`, `m`, `h` or `d` (`7d`).
    func duration(_ field: Field) throws(ConfigurationError) -> Duration? {
        guard let text = try string(field) else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var unit: Int64 = 1
        if let last = digits.last, let u = units[last] {
            unit = u
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let n = Int64(digits), n > 0,
              n <= Int64.max / unit / 1000
        else {
            throw error("expected a positive duration such as 604800, 90m, 12h or 7d, got \(quoted(text))", at: field)
        }
        return .seconds(n * unit)
    }

    /// The boolean a scalar holds; `nil` when empty or null.
    func boolean(_ field: Field) throws(ConfigurationError) -> Bool? {
        let value = try scalar(field, expected: "a boolean (true or false)")
        switch value.kind {
        case .null:
            return nil
        case .bool:
            guard let flag = Bool.construct(from: Yams.Node.Scalar(value.text, Yams.Tag(.bool), .plain)) else {
                throw mismatch(field, expected: "a boolean (true or false)")
            }
            return flag
        default:
            throw mismatch(field, expected: "a boolean (true or false)")
        }
    }

    // MARK: - Free-form values

    /// The JSON value of any node: mappings become objects, lists arrays, and scalars are typed the way YAML
    /// resolves them after interpolation (quoted scalars stay strings).
    func json(_ field: Field) throws(ConfigurationError) -> JSONValue {
        switch field.value {
        case .scalar:
            let value = try scalar(field)
            switch value.kind {
            case .string:
                return .string(value.text)
            case .null:
                return .null
            case .bool:
                guard let flag = Bool.construct(from: Yams.Node.Scalar(value.text, Yams.Tag(.bool), .plain)) else {
                    throw mismatch(field, expected: "a boolean")
                }
                return .bool(flag)
            case .int:
                guard let number = Int64.construct(from: Yams.Node.Scalar(value.text, Yams.Tag(.int), .plain)) else {
                    throw error("expected a 64-bit integer, got \(quoted(value.text))", at: field)
                }
                return .int(number)
            case .float:
                guard let number = Double.construct(from: Yams.Node.Scalar(value.text, Yams.Tag(.float), .plain)),
                    number.isFinite
                else {
                    throw error("expected a finite number, got \(quoted(value.text))", at: field)
                }
                return .double(number)
            }
        case .sequence(let sequence):
            var array: [JSONValue] = []
            for (index, node) in sequence.enumerated() {
                array.append(try json(Field(key: nil, value: node, path: "\(field.path)[\(index)]")))
            }
            return .array(array)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, node) in mapping {
                let name = try keyName(key, in: field)
                let keyError = { (message: String) in
                    ConfigurationError(location: location(key.mark), path: field.path, message: message)
                }
                if name == "<<" { throw keyError("merge keys ('<<') are not supported") }
                if object[name] != nil { throw keyError("duplicate key \(quoted(name))") }
                object[name] = try json(Field(key: key, value: node, path: Self.member(field.path, name)))
            }
            return .object(object)
        case .alias:
            throw error("unexpected alias", at: field)
        }
    }

    /// The text of a mapping key of `field`; a key that is not a scalar (a list or mapping as a key) is an error at it.
    func keyName(_ key: Yams.Node, in field: Field) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = key else {
            throw ConfigurationError(location: location(key.mark), path: field.path,
                                     message: "expected a key, got \(describe(key))")
        }
        return scalar.string
    }

    // MARK: - Errors

    /// An error at `field`'s value (or its key when the value is empty).
    func error(_ message: String, at field: Field) -> ConfigurationError {
        ConfigurationError(location: location(field.mark), path: field.path, message: message)
    }

    /// A type error: "expected an integer, got 'abc'".
    func mismatch(_ field: Field, expected: String) -> ConfigurationError {
        error("expected \(expected), got \(describe(field.value))", at: field)
    }

    /// A YAML mark in this file; 1:1 when the parser gave none.
    func location(_ mark: Yams.Mark?) -> SourceLocation {
        SourceLocation(file: fileName, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    /// How a node reads in an error message: `'abc'`, `an empty value`, `a mapping`, `a list`.
    func describe(_ node: Yams.Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            let text = (try? EnvironmentInterpolation.expand(scalar.string, environment: environment)) ?? scalar.string
            if text.isEmpty { return "an empty value" }
            let isQuoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            return quoted(text) + (isQuoted ? " (a quoted string)" : "")
        }
    }

    /// `'text'`, shortened when long.
    func quoted(_ text: String) -> String {
        let limit = 60
        return text.count > limit ? "'\(text.prefix(limit))…'" : "'\(text)'"
    }

    /// The path of `key` inside `path`: `bots[0].name`, or `config["a b"]` for keys that are not simple names.
    static func member(_ path: String, _ key: String) -> String {
        if !key.isEmpty, key.unicodeScalars.allSatisfy(isNameCharacter) {
            return path.isEmpty ? key : "\(path).\(key)"
        }
        let escaped = key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(path)[\"\(escaped)\"]"
    }

    /// The candidate within edit distance 2 of `word` (the first of the nearest), if any.
    static func closest(to word: String, among candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(word, candidate)
            if distance <= 2, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// The Levenshtein distance between two strings, counted in characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// The ASCII character classes names in the file are checked against.
enum YAMLCharacters {
    /// Whether the scalar is in `[A-Za-z0-9_-]`.
    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        isASCIILetter(scalar) || isASCIIDigit(scalar) || scalar == "_" || scalar == "-"
    }

    /// Whether the scalar is `A`-`Z` or `a`-`z`.
    static func isASCIILetter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }

    /// Whether the scalar is `0`-`9`.
    static func isASCIIDigit(_ scalar: Unicode.Scalar) -> Bool {
        ("0"..."9").contains(scalar)
    }
}
