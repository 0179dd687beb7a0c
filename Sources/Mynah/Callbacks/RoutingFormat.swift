import Foundation
import Hub
import IMProtocol

/// JMessage's real-time message routing format: a POST of `{"total": N, "messages": [...]}` whose messages have the
/// shape of the report API v2 history (docs/callbacks.md). Mynah writes it (callbacks out of the hub) and reads it
/// (bots on the real JMessage).
enum RoutingFormat {
    /// The body of one POST.
    static func batch(_ messages: [StoredMessage], appKey: String) -> [UInt8] {
        JSONValue.object([
            "total": .int(Int64(messages.count)),
            "messages": .array(messages.map { $0.historyJSON(appKey: appKey) }),
        ]).serialized()
    }

    /// The body of one POST of gateway events (Mynah's extension, `events:` of a callback): `total` counts the
    /// messages as in JMessage (none), `events` holds the events in the order they happened.
    static func events(_ events: [LoggedEvent]) -> [UInt8] {
        JSONValue.object([
            "total": .int(0),
            "messages": .array([]),
            "events": .array(events.map(event)),
        ]).serialized()
    }

    /// One routed event: the gateway's event object plus `event_id` (increasing; drop repeats by it), the
    /// conversation (`target_type`, `target_id`) and `after_msgid`, the last message committed before it.
    static func event(_ logged: LoggedEvent) -> JSONValue {
        guard case .object(var o) = logged.event.json else { return logged.event.json }
        o["event_id"] = .int(logged.id)
        o["target_type"] = .string(logged.targetType.rawValue)
        o["target_id"] = .string(logged.targetID)
        o["after_msgid"] = .int(logged.afterMsgID)
        return .object(o)
    }

    /// Reads a routing POST's body; the error names the first bad field (`messages[2].msg_body.text`).
    static func parse(_ body: some Collection<UInt8>) throws(ProtocolError) -> [StoredMessage] {
        let json = try JSONValue.parse(body)
        let r = try JSONObjectReader(json, path: "")
        guard case .array(let items)? = r.object["messages"] else {
            throw ProtocolError(path: "messages", reason: r.object["messages"] == nil ? "required" : "expected a list")
        }
        if let total = r.object["total"], total.intValue == nil {
            throw ProtocolError(path: "total", reason: "expected an integer")
        }
        var result: [StoredMessage] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            result.append(try message(item, path: "messages[\(index)]"))
        }
        return result
    }

    /// One routed message: the protocol v1 envelope plus `msgid` and `msg_ctime`.
    static func message(_ item: JSONValue, path: String) throws(ProtocolError) -> StoredMessage {
        let r = try JSONObjectReader(item, path: path)
        let msgID = try r.int("msgid")
        let ctime = try r.int("msg_ctime")
        guard case .object(var o) = item else { throw ProtocolError(path: path, reason: "expected an object") }
        // JMessage sends empty strings for absent names and platforms; the envelope leaves them out.
        for key in ["target_name", "from_name", "from_platform", "from_appkey", "target_appkey"]
        where o[key]?.stringValue?.isEmpty == true {
            o[key] = nil
        }
        if o["version"] == nil { o["version"] = .int(1) }
        for key in ["msgid", "msg_ctime", "msg_level"] { o[key] = nil }
        let message = try Message(json: .object(o), path: path)
        return StoredMessage(msgID: msgID, msgCtime: ctime, message: message)
    }
}
