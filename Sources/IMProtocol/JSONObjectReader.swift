/// Reads typed fields out of a JSON object, producing `ProtocolError`s that carry the field's path.
package struct JSONObjectReader {
    /// The object being read.
    package let object: [String: JSONValue]
    /// The object's own JSON path, the prefix of every field's path.
    package let path: String

    /// Wraps `value`, which must be an object; `path` is its JSON path.
    package init(_ value: JSONValue, path: String) throws(ProtocolError) {
        guard case .object(let o) = value else {
            throw ProtocolError(path: path, reason: "expected an object, got \(value.typeName)")
        }
        self.object = o
        self.path = path
    }

    /// The JSON path of a field of this object.
    package func fieldPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    private func present(_ key: String) -> JSONValue? {
        switch object[key] {
        case .none, .some(.null): return nil
        case .some(let v): return v
        }
    }

    /// A present, non-null field of any type.
    package func required(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let v = present(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return v
    }

    /// A required string, at most `maxLength` UTF-8 bytes when given.
    package func string(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String {
        guard let s = try optionalString(key, maxLength: maxLength) else {
            throw ProtocolError(path: fieldPath(key), reason: "required")
        }
        return s
    }

    /// An optional string, at most `maxLength` UTF-8 bytes when given.
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

    /// An optional string that, when present, is not empty.
    package func optionalNonEmptyString(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String? {
        let s = try optionalString(key, maxLength: maxLength)
        if s?.isEmpty == true { throw ProtocolError(path: fieldPath(key), reason: "must not be empty") }
        return s
    }

    /// A required, non-empty string.
    package func nonEmptyString(_ key: String, maxLength: Int? = nil) throws(ProtocolError) -> String {
        let s = try string(key, maxLength: maxLength)
        if s.isEmpty { throw ProtocolError(path: fieldPath(key), reason: "must not be empty") }
        return s
    }

    /// A required whole number.
    package func int(_ key: String) throws(ProtocolError) -> Int64 {
        guard let i = try optionalInt(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return i
    }

    /// An optional whole number.
    package func optionalInt(_ key: String) throws(ProtocolError) -> Int64? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else {
            throw ProtocolError(path: fieldPath(key), reason: "expected an integer, got \(v.typeName)")
        }
        return i
    }

    /// A required number.
    package func double(_ key: String) throws(ProtocolError) -> Double {
        guard let d = try optionalDouble(key) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return d
    }

    /// An optional number.
    package func optionalDouble(_ key: String) throws(ProtocolError) -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.doubleValue else {
            throw ProtocolError(path: fieldPath(key), reason: "expected a number, got \(v.typeName)")
        }
        return d
    }

    /// An optional boolean.
    package func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else {
            throw ProtocolError(path: fieldPath(key), reason: "expected a boolean, got \(v.typeName)")
        }
        return b
    }

    /// An optional object.
    package func optionalObject(_ key: String) throws(ProtocolError) -> [String: JSONValue]? {
        guard let v = present(key) else { return nil }
        guard case .object(let o) = v else {
            throw ProtocolError(path: fieldPath(key), reason: "expected an object, got \(v.typeName)")
        }
        return o
    }

    /// A required string that is one of the cases of `E`.
    package func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(ProtocolError) -> E
    where E.RawValue == String {
        guard let e = try optionalEnum(key, E.self) else { throw ProtocolError(path: fieldPath(key), reason: "required") }
        return e
    }

    /// An optional string that is one of the cases of `E`.
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
