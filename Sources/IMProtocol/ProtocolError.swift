/// A field of a protocol object that is missing or malformed, named by its JSON path.
///
/// The description reads like `msg_body.text: required`, so a client knows exactly what to fix;
/// over HTTP it maps to JMessage error 899003.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path of the offending field, e.g. `msg_body.text` (empty for the document itself).
    public var path: String
    /// What is wrong with it, e.g. `required` or `expected a string`.
    public var reason: String

    /// Creates an error for the field at `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `path: reason`, or just the reason for the document itself.
    public var description: String {
        path.isEmpty ? reason : "\(path): \(reason)"
    }
}

/// Reads typed fields out of a JSON object, producing `ProtocolError`s that carry the field's path.
package struct JSONObjectReader {
    package let object: [String: JSONValue]
    package let path: String

    /// Wraps `value`, which must be an object.
    package init(_ value: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = value else {
            throw ProtocolError(path: path, reason: "expected an object, got \(value.typeName)")
        }
        self.object = o
        self.path = path
    }

    package func fieldPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    private func present(_ key: String) -> JSONValue? {
        switch object[key] {
        case .none, .some(.null): return nil
        case .some(let v): return v
        }
    }

    package func has(_ key: String) -> Bool { present(key) != nil }

    package func required(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let v = present(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return v
    }

    package func string(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String {
        guard let s = try optionalString(key, maxLength: maxLength) else {
            throw ProtocolError(path: fieldPath(key), reason: "required")
        }
        return s
    }

    package func optionalString(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String? {
        guard let v = present(key) else { return nil }
        guard case .string(let s) = v else {
            throw ProtocolError(path: fieldPath(key), reason: "expected a string, got \(v.typeName)")
        }
        if let maxLength, s.utf8.count > maxLength {
            throw ProtocolError(path: fieldPath(key), reason: "longer than \(maxLength) bytes")
        }
        return s
    }

    package func optionalNonEmptyString(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String? {
        let s = try optionalString(key, maxLength: maxLength)
        if s?.isEmpty == true { throw ProtocolError(path: fieldPath(key), reason: "must not be empty") }
        return s
    }

    package func nonEmptyString(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String {
        let s = try string(key, maxLength: maxLength)
        if s.isEmpty { throw ProtocolError(path: fieldPath(key), reason: "must not be empty") }
        return s
    }

    package func int(_ key: String) throws(ProtocolError) -> Int64 {
        guard let i = try optionalInt(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return i
    }

    package func optionalInt(_ key: String) throws(ProtocolError) -> Int64? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else {
            throw ProtocolError(path: fieldPath(key), reason: "expected an integer, got \(v.typeName)")
        }
        return i
    }

    package func double(_ key: String) throws(ProtocolError) -> Double {
        guard let d = try optionalDouble(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return d
    }

    package func optionalDouble(_ key: String) throws(ProtocolError) -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.doubleValue else {
            throw ProtocolError(path: fieldPath(key), reason: "expected a number, got \(v.typeName)")
        }
        return d
    }

    package func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else {
            throw ProtocolError(path: fieldPath(key), reason: "expected a boolean, got \(v.typeName)")
        }
        return b
    }

    package func optionalObject(_ key: String) throws(ProtocolError) -> [String: JSONValue]? {
        guard let v = present(key) else { return nil }
        guard case .object(let o) = v else {
            throw ProtocolError(path: fieldPath(key), reason: "expected an object, got \(v.typeName)")
        }
        return o
    }

    package func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(ProtocolError) -> E
    where E.RawValue == String {
        guard let e = try optionalEnum(key, E.self) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return e
    }

    package func optionalEnum<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(ProtocolError) -> E?
    where E.RawValue == String {
        guard let s = try optionalString(key) else { return nil }
        guard let e = E(rawValue: s) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: "|")
            throw ProtocolError(path: fieldPath(key), reason: "must be one of \(allowed), got '\(s)'")
        }
        return e
    }
}
