import BotKit
import Commands
import Echo
import Foundation
import IMProtocol
import Logging
import Relay
import Reminder

/// The Swift plugins a `bots.yaml` can name with `swift: NAME`, and the factory for every plugin kind.
public struct PluginRegistry: Sendable {
    /// Plugin types by their `pluginName`.
    public var types: [String: any BotKit.Plugin.Type]

    /// A registry of the given plugin types.
    public init(_ types: [any BotKit.Plugin.Type]) {
        self.types = Dictionary(types.map { ($0.pluginName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The plugins built into Mynah (under `Plugins/`).
    public static let builtIn = PluginRegistry([Echo.self, Commands.self, Relay.self, Reminder.self])

    /// Builds the Swift plugin a `bots.yaml` block names; errors point at the block, with the field's path.
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

    /// Builds a plugin entry of any kind as the bot runs it, with its time limit and configured schedules.
    public func slot(_ spec: MynahConfiguration.Plugin, path: String, logger: Logger)
        throws(ConfigurationError) -> BotKit.Bot.Slot {
        let plugin: any BotPlugin
        var timeLimit = spec.options.timeout
        if let exec = spec.options.exec {
            plugin = ExternalPlugin(
                id: spec.options.id ?? Self.defaultID(exec: exec.command),
                command: exec.command, environment: exec.environment, configuration: spec.config,
                supervision: .init(backoff: exec.backoff, maxBackoff: exec.maxBackoff,
                                   quarantineAfter: exec.quarantineAfter,
                                   timeout: max(spec.options.timeout, .seconds(10))),
                logger: logger)
        } else if let webhook = spec.options.webhook {
            let hook = WebhookPlugin(
                id: spec.options.id ?? URL(string: webhook.url)?.host ?? "webhook", url: webhook.url,
                secret: webhook.secret, configuration: spec.config, timeout: spec.options.timeout,
                retries: webhook.retries, logger: logger)
            timeLimit = hook.totalTimeLimit
            plugin = hook
        } else {
            plugin = SwiftBotPlugin(try make(spec, path: path), id: spec.options.id)
        }
        return BotKit.Bot.Slot(plugin, timeout: timeLimit,
                               schedules: spec.options.schedules.map { Schedule(name: $0.name, cron: $0.cron) })
    }

    /// An exec plugin's default id: its script's (or program's) file name without extension.
    static func defaultID(exec command: [String]) -> String {
        let script = command.dropFirst().first { !$0.hasPrefix("-") } ?? command[0]
        let name = ((script as NSString).lastPathComponent as NSString).deletingPathExtension
        let cleaned = String(name.unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0)
            || $0 == "_" || $0 == "-" }.map(Character.init))
        return cleaned.isEmpty ? "exec" : cleaned
    }
}
