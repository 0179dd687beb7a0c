import BotKit

/// Replies to every text message with the same text, optionally after a configured `prefix`.
///
/// ```yaml
/// plugins:
///   - swift: echo
///     config: { prefix: "echo: " }
/// ```
public struct Echo: Plugin {
    /// `swift: echo` in `bots.yaml`.
    public static let pluginName = "echo"
    /// Text put before the echoed text; empty by default.
    public var prefix: String

    /// Reads `prefix` (optional string); any other key is an error.
    public init(configuration: JSONValue) throws(ProtocolError) {
        guard case .object(let o) = configuration else {
            throw ProtocolError(path: "", reason: "expected a mapping, got \(configuration.typeName)")
        }
        for key in o.keys where key != "prefix" {
            throw ProtocolError(path: key, reason: "unknown key; echo takes only 'prefix'")
        }
        switch o["prefix"] {
        case .none, .some(.null): prefix = ""
        case .some(.string(let s)): prefix = s
        case .some(let v): throw ProtocolError(path: "prefix", reason: "expected a string, got \(v.typeName)")
        }
    }

    /// Echoes text messages; ignores other types.
    public func handle(_ event: BotEvent, context: PluginContext) async throws -> [BotAction] {
        guard case .message(let m) = event, let text = m.text else { return [] }
        return [.reply(.text(prefix + text))]
    }
}
