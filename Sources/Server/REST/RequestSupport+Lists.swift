import Hub
import Hummingbird
import IMProtocol

/// Readers for the list-shaped bodies and paging parameters that many JMessage endpoints share.
enum Lists {
    /// A JSON array of strings (`["u1","u2"]`), 1 to `max` long unless `allowEmpty`.
    static func strings(_ value: JSONValue, path: String = "body", max: Int = 500, allowEmpty: Bool = false) throws -> [String] {
        guard case .array(let items) = value else {
            throw APIError(.invalidParameter, "\(path): expected an array of strings, got \(value.typeName)")
        }
        guard allowEmpty || !items.isEmpty else { throw APIError(.invalidParameter, "\(path): the array is empty") }
        guard items.count <= max else { throw APIError(.invalidParameter, "\(path): at most \(max) items, got \(items.count)") }
        return try items.enumerated().map { i, item in
            guard case .string(let s) = item, !s.isEmpty else {
                throw APIError(.invalidParameter, "\(path)[\(i)]: expected a non-empty string, got \(item.typeName)")
            }
            return s
        }
    }

    /// An optional array of strings in an object field.
    static func strings(_ r: JSONObjectReader, _ key: String, max: Int = 500) throws -> [String] {
        guard let v = r.object[key], !v.isNull else { return [] }
        return try strings(v, path: r.fieldPath(key), max: max, allowEmpty: true)
    }

    /// A JSON array of ids (numbers, or numeric strings as some SDKs send).
    static func ids(_ value: JSONValue, path: String, max: Int = 500, allowEmpty: Bool = true) throws -> [Int64] {
        guard case .array(let items) = value else {
            throw APIError(.invalidParameter, "\(path): expected an array of ids, got \(value.typeName)")
        }
        guard allowEmpty || !items.isEmpty else { throw APIError(.invalidParameter, "\(path): the array is empty") }
        guard items.count <= max else { throw APIError(.invalidParameter, "\(path): at most \(max) items, got \(items.count)") }
        return try items.enumerated().map { i, item in
            switch item {
            case .int(let n) where n > 0: return n
            case .string(let s) where Int64(s).map({ $0 > 0 }) ?? false: return Int64(s)!
            default: throw APIError(.invalidParameter, "\(path)[\(i)]: expected a positive id, got \(item.typeName)")
            }
        }
    }

    /// An optional array of ids in an object field.
    static func ids(_ r: JSONObjectReader, _ key: String) throws -> [Int64] {
        guard let v = r.object[key], !v.isNull else { return [] }
        return try ids(v, path: r.fieldPath(key))
    }

    /// `start` and `count` of a paged list: both required, `start` ≥ 0, `count` from 1 to `maxCount`.
    static func page(_ request: Request, maxCount: Int = 500) throws -> (start: Int, count: Int) {
        let params = request.uri.queryParameters
        guard let s = params["start"] else { throw APIError(.invalidParameter, "start: required") }
        guard let start = Int(s), start >= 0 else { throw APIError(.invalidParameter, "start: must be an integer ≥ 0") }
        guard let c = params["count"] else { throw APIError(.invalidParameter, "count: required") }
        guard let count = Int(c), (1...maxCount).contains(count) else {
            throw APIError(.invalidParameter, "count: must be an integer from 1 to \(maxCount)")
        }
        return (start, count)
    }

    /// A boolean query parameter written `true`/`false` or `1`/`0`.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        let value: String? = request.uri.queryParameters[name[...]].map { String($0).lowercased() }
        switch value {
        case "true", "1": return true
        case "false", "0": return false
        case nil: throw APIError(.invalidParameter, "\(name): required (true or false)")
        case let other?: throw APIError(.invalidParameter, "\(name): expected true or false, got '\(other)'")
        }
    }

    /// A numeric path parameter (a gid or room id).
    static func id(_ context: some RequestContext, _ name: String) throws -> Int64 {
        let text = try context.pathParameter(name)
        guard let id = Int64(text), id > 0 else { throw APIError(.invalidParameter, "\(name): '\(text)' is not an id") }
        return id
    }

    /// `appkey`, or `appKey` as the Java SDK writes it.
    static func appKey(_ r: JSONObjectReader) throws -> String? {
        try r.optionalNonEmptyString("appkey") ?? r.optionalNonEmptyString("appKey")
    }
}

extension JSONValue {
    /// True for JSON `null`.
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
