/// The report API v2 shape of a stored message, shared by the history API and JMessage's message routing, which
/// JMessage defines as the same shape (docs/callbacks.md).
extension StoredMessage {
    /// This message as the history API and routing callbacks show it; `appKey` is the app being read, the sender's
    /// when the message names none. `msg_level` is 1 for a message between two apps.
    public func historyJSON(appKey: String) -> JSONValue {
        let m = message
        let fromAppKey = m.fromAppKey ?? appKey
        let targetAppKey = m.targetAppKey ?? fromAppKey
        return .object([
            "version": .int(Int64(m.version)), "target_type": .string(m.targetType.rawValue),
            "target_id": .string(m.targetID), "target_name": .string(m.targetName ?? ""),
            "from_type": .string(m.fromType.rawValue), "from_id": .string(m.fromID),
            "from_name": .string(m.fromName ?? ""), "from_platform": .string(m.fromPlatform ?? ""),
            "from_appkey": .string(fromAppKey), "target_appkey": .string(targetAppKey),
            "msg_type": .string(m.msgType.rawValue), "msg_body": m.body.json,
            "create_time": .int(m.createTime), "msgid": .int(msgID), "msg_ctime": .int(msgCtime),
            "msg_level": .int(fromAppKey == targetAppKey ? 0 : 1),
        ])
    }
}
