import IMProtocol

/// Parses JSON text, failing the test with the protocol error if it is malformed.
func json(_ text: String) throws -> JSONValue {
    try JSONValue.parse(text)
}

/// Parses JSON text as an object, for tests that tweak one field.
func object(_ text: String) throws -> [String: JSONValue] {
    guard case .object(let o) = try JSONValue.parse(text) else {
        throw ProtocolError(path: "", reason: "test fixture is not an object")
    }
    return o
}

/// Returns a copy of `value` with the member at the dotted `path` replaced by `newValue`,
/// or removed when `newValue` is `nil`.
func setting(_ path: String, to newValue: JSONValue?, in value: JSONValue) -> JSONValue {
    let keys = path.split(separator: ".").map(String.init)
    return setting(keys[...], to: newValue, in: value)
}

private func setting(_ keys: ArraySlice<String>, to newValue: JSONValue?, in value: JSONValue) -> JSONValue {
    guard let key = keys.first, case .object(var o) = value else { return newValue ?? .null }
    if keys.count == 1 {
        o[key] = newValue
    } else {
        o[key] = setting(keys.dropFirst(), to: newValue, in: o[key] ?? .object([:]))
    }
    return .object(o)
}

/// A message envelope of protocol v1 around `body`, as JSON text.
func messageText(msgType: String, body: String) -> String {
    """
    {"version":1,"target_type":"single","target_id":"javen","from_type":"user","from_id":"fang",
     "from_platform":"a","create_time":1700000000,"msg_type":"\(msgType)","msg_body":\(body)}
    """
}
