import Foundation
import IMProtocol

/// A push's `callback: {url, params, type}`: where Mynah reports what became of the push. `type` is JPush's
/// bitmask: 1 delivered (a device of the account acknowledged the bridged message), 2 clicked (never reported:
/// the bridge sees no clicks), 8 push accepted; they combine (9 = accepted and delivered).
public struct ReceiptCallback: Sendable, Equatable {
    /// Delivered: a device of the account acknowledged it.
    public static let delivered = 1
    /// Clicked (accepted, never reported).
    public static let clicked = 2
    /// The push was accepted.
    public static let accepted = 8

    /// The http or https URL.
    public var url: String
    /// Echoed in every report.
    public var params: [String: JSONValue]
    /// The bitmask of what is reported.
    public var type: Int

    /// Creates a callback.
    public init(url: String, params: [String: JSONValue] = [:], type: Int = ReceiptCallback.delivered) {
        self.url = url
        self.params = params
        self.type = type
    }

    /// The callback as stored with its push.
    public var json: JSONValue { ["url": .string(url), "params": .object(params), "type": .int(Int64(type))] }

    /// Reads `callback` of a push body (`nil` when absent or null).
    public static func read(_ value: JSONValue?) throws(BridgeError) -> ReceiptCallback? {
        switch value {
        case .none, .some(.null): return nil
        case .some(.object(let o)):
            for key in o.keys.sorted() where !["url", "params", "type"].contains(key) {
                throw .unsupported("callback.\(key)", "unknown key")
            }
            guard case .string(let url)? = o["url"] else {
                throw o["url"] == nil ? .missing("callback.url") : .invalid("callback.url", "expected a string")
            }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw .invalid("callback.url", "expected an http:// or https:// URL")
            }
            var callback = ReceiptCallback(url: url)
            switch o["params"] {
            case .none, .some(.null): break
            case .some(.object(let p)): callback.params = p
            case .some(let v): throw .invalid("callback.params", "expected an object, got \(v.typeName)")
            }
            switch o["type"] {
            case .none, .some(.null): break
            case .some(let v):
                guard let n = v.intValue, (1...15).contains(n), n & 0b0100 == 0 else {
                    throw .invalid("callback.type", "expected a bitmask of 1 (delivered), 2 (clicked) and 8 (accepted)")
                }
                callback.type = Int(n)
            }
            return callback
        case .some(let v):
            throw .invalid("callback", "expected an object, got \(v.typeName)")
        }
    }
}
