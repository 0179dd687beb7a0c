// What a plugin needs besides BotKit itself comes with it, so a plugin target depends on BotKit alone and
// `import BotKit` is its only import: the wire types (`JSONValue`, `MessageBody`, `ProtocolError`, ...) and the
// logger type of `PluginContext.logger`.
@_exported import IMProtocol
@_exported import Logging
