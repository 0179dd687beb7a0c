import BotKit
import Echo
import IMProtocol

/// The Swift plugins a `bots.yaml` can name with `swift: NAME`.
public struct PluginRegistry: Sendable {
    /// Plugin types by their `pluginName`.
    public var types: [String: any BotKit.Plugin.Type]

    /// A registry of the given plugin types.
    public init(_ types: [any BotKit.Plugin.Type]) {
        self.types = Dictionary(types.map { ($0.pluginName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The plugins built into Mynah (under `Plugins/`).
    public static let builtIn = PluginRegistry([Echo.self])

    /// Builds the plugin a `bots.yaml` block names; errors point at the block, with the field's path.
    public func make(_ spec: MynahConfiguration.Plugin, path: String) throws(ConfigurationError) -> any BotKit.Plugin {
        guard let type = types[spec.swift] else {
            let known = types.keys.sorted().joined(separator: ", ")
            throw ConfigurationError(location: spec.location, path: "\(path).swift",
                                     message: "unknown plugin '\(spec.swift)'; built-in plugins: \(known)")
        }
        do {
            return try type.init(configuration: spec.config)
        } catch {
            let field = error.path.isEmpty ? "\(path).config" : "\(path).config.\(error.path)"
            throw ConfigurationError(location: spec.location, path: field, message: error.reason)
        }
    }
}
