import Foundation
import IMProtocol
import Testing

/// The "Message Example" of the JMessage message protocol document, verbatim.
let seedExampleVerbatim = """
    {
        "version": 1,
        "target_type": "single",
        "target_id": "javen",
        "target_name": "Javen Fang",
        "from_type": "user",
        "from_id": "fang",
        "from_name": "Fang Javen",
        "create_time": 135432432187,
        "msg_type": "text",
        "msg_body": {
            "text": "Hello, JPush IM!"
        }
    }
    """

/// The same example with `from_platform`, which the protocol definition marks required
/// but the document's example leaves out.
let seedExample = """
    {
        "version": 1,
        "target_type": "single",
        "target_id": "javen",
        "target_name": "Javen Fang",
        "from_type": "user",
        "from_id": "fang",
        "from_name": "Fang Javen",
        "from_platform": "web",
        "create_time": 135432432187,
        "msg_type": "text",
        "msg_body": {
            "text": "Hello, JPush IM!"
        }
    }
    """

@Suite("Message")
struct MessageTests {
    // MARK: The seed example

    @Test("the protocol document's example parses with every field as written")
    func seedExampleFields() throws {
        let m = try Message(json: json(seedExample))
        #expect(m.version == 1)
        #expect(m.targetType == .single)
        #expect(m.targetID == "javen")
        #expect(m.targetName == "Javen Fang")
        #expect(m.targetAppKey == nil)
        #expect(m.fromType == .user)
        #expect(m.fromID == "fang")
        #expect(m.fromName == "Fang Javen")
        #expect(m.fromAppKey == nil)
        #expect(m.fromPlatform == "web")
        #expect(m.createTime == 135_432_432_187)
        #expect(m.msgType == .text)
        #expect(m.body.type == .text)
        #expect(m.body.text == "Hello, JPush IM!")
        guard case .text(let body) = m.body else {
            Issue.record("expected a text body, got \(m.body)")
            return
        }
        #expect(body.extras == nil)
        #expect(body.additionalFields.isEmpty)
    }

    @Test("the example serializes to JSON equal in meaning to the original, and back to an equal Message")
    func seedExampleRoundTrip() throws {
        let original = try json(seedExample)
        let m = try Message(json: original)
        #expect(m.json == original)

        let bytes = m.json.serialized()
        #expect(try JSONValue.parse(bytes) == original)
        #expect(try Message(json: JSONValue.parse(bytes)) == m)
        #expect(String(decoding: bytes, as: UTF8.self) == """
            {"create_time":135432432187,"from_id":"fang","from_name":"Fang Javen","from_platform":"web",\
            "from_type":"user","msg_body":{"text":"Hello, JPush IM!"},"msg_type":"text","target_id":"javen",\
            "target_name":"Javen Fang","target_type":"single","version":1}
            """)
    }

    @Test("the example exactly as printed (without from_platform) parses and round-trips unchanged in meaning")
    func seedExampleAsPrinted() throws {
        // The hub always sets `from_platform`; a reader accepts messages without it, as the document's example is.
        let original = try json(seedExampleVerbatim)
        let message = try Message(json: original)
        #expect(message.fromPlatform == nil)
        #expect(message.json == original)
        #expect(try JSONValue.parse(message.json.serialized()) == original)
        let fixed = setting("from_platform", to: "web", in: original)
        #expect(try Message(json: fixed) == Message(json: json(seedExample)))
    }

    @Test("a message built in code equals the parsed example")
    func builtInCode() throws {
        let built = Message(targetType: .single, targetID: "javen", targetName: "Javen Fang", fromType: .user,
                            fromID: "fang", fromName: "Fang Javen", fromPlatform: "web", createTime: 135_432_432_187,
                            body: .text("Hello, JPush IM!"))
        #expect(try built == Message(json: json(seedExample)))
        #expect(try built.json == json(seedExample))
    }

    // MARK: Envelope fields

    @Test("every envelope field, including the cross-app keys, round-trips")
    func allEnvelopeFields() throws {
        let text = """
            {"version":1,"target_type":"group","target_id":"10001","target_appkey":"4f7aef34fb361292c566a1cd",
             "target_name":"Team","from_type":"admin","from_id":"root","from_appkey":"appkey-2","from_name":"Root",
             "from_platform":"api","create_time":9007199254740993,"msg_type":"text",
             "msg_body":{"text":"hi","extras":{"k":"v"}}}
            """
        let original = try json(text)
        let m = try Message(json: original)
        #expect(m.targetType == .group)
        #expect(m.targetAppKey == "4f7aef34fb361292c566a1cd")
        #expect(m.fromType == .admin)
        #expect(m.fromAppKey == "appkey-2")
        #expect(m.fromPlatform == "api")
        #expect(m.createTime == 9_007_199_254_740_993)
        #expect(m.json == original)
        #expect(try Message(json: JSONValue.parse(m.json.serialized())) == m)
    }

    @Test("each target_type and from_type is accepted", arguments: TargetType.allCases, FromType.allCases)
    func enumCombinations(target: TargetType, from: FromType) throws {
        var value = setting("target_type", to: .string(target.rawValue), in: try json(seedExample))
        value = setting("from_type", to: .string(from.rawValue), in: value)
        let m = try Message(json: value)
        #expect(m.targetType == target)
        #expect(m.fromType == from)
        #expect(m.json == value)
    }

    @Test("the protocol's enumerations have the documented spellings")
    func enumSpellings() {
        #expect(TargetType.allCases.map(\.rawValue) == ["single", "group", "chatroom"])
        #expect(FromType.allCases.map(\.rawValue) == ["user", "robot", "admin"])
        #expect(MessageType.allCases.map(\.rawValue) == ["text", "voice", "image", "file", "location", "video", "custom"])
    }

    @Test("a null optional field counts as absent")
    func nullOptional() throws {
        let value = setting("target_name", to: .null, in: try json(seedExample))
        let m = try Message(json: value)
        #expect(m.targetName == nil)
    }

    // MARK: Errors

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var field: String
        var value: JSONValue?
        var path: String
        var description: String?
        var reasonContains: String?
        var testDescription: String { value.map { "\(field) = \($0.serializedString())" } ?? "no \(field)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(field: "msg_body.text", value: nil, path: "msg_body.text", description: "msg_body.text: required"),
        ErrorCase(field: "msg_body.text", value: 5, path: "msg_body.text",
                  description: "msg_body.text: expected a string, got number"),
        ErrorCase(field: "msg_body.text", value: JSONValue.null, path: "msg_body.text",
                  description: "msg_body.text: required"),
        ErrorCase(field: "msg_body.text", value: ["a"], path: "msg_body.text",
                  description: "msg_body.text: expected a string, got array"),
        ErrorCase(field: "msg_body.extras", value: "x", path: "msg_body.extras",
                  description: "msg_body.extras: expected an object, got string"),
        ErrorCase(field: "msg_body", value: "Hello", path: "msg_body",
                  description: "msg_body: expected an object, got string"),
        ErrorCase(field: "msg_body", value: [1, 2], path: "msg_body",
                  description: "msg_body: expected an object, got array"),
        ErrorCase(field: "msg_body", value: nil, path: "msg_body", description: "msg_body: required"),
        ErrorCase(field: "target_type", value: "channel", path: "target_type",
                  reasonContains: "single|group|chatroom"),
        ErrorCase(field: "target_type", value: nil, path: "target_type", description: "target_type: required"),
        ErrorCase(field: "target_type", value: 1, path: "target_type",
                  description: "target_type: expected a string, got number"),
        ErrorCase(field: "version", value: 2, path: "version", reasonContains: "2"),
        ErrorCase(field: "version", value: 0, path: "version"),
        ErrorCase(field: "version", value: nil, path: "version", description: "version: required"),
        ErrorCase(field: "version", value: "1", path: "version", description: "version: expected an integer, got string"),
        ErrorCase(field: "version", value: 1.5, path: "version", description: "version: expected an integer, got number"),
        ErrorCase(field: "target_id", value: nil, path: "target_id", description: "target_id: required"),
        ErrorCase(field: "target_id", value: "", path: "target_id", description: "target_id: must not be empty"),
        ErrorCase(field: "from_type", value: "bot", path: "from_type", reasonContains: "user|robot|admin"),
        ErrorCase(field: "from_id", value: nil, path: "from_id", description: "from_id: required"),
        ErrorCase(field: "from_id", value: JSONValue.null, path: "from_id", description: "from_id: required"),
        ErrorCase(field: "from_platform", value: false, path: "from_platform",
                  description: "from_platform: expected a string, got boolean"),
        ErrorCase(field: "target_name", value: 7, path: "target_name",
                  description: "target_name: expected a string, got number"),
        ErrorCase(field: "from_name", value: ["x": 1], path: "from_name",
                  description: "from_name: expected a string, got object"),
        ErrorCase(field: "create_time", value: nil, path: "create_time", description: "create_time: required"),
        ErrorCase(field: "create_time", value: "now", path: "create_time",
                  description: "create_time: expected an integer, got string"),
        ErrorCase(field: "create_time", value: 1.5, path: "create_time",
                  description: "create_time: expected an integer, got number"),
        ErrorCase(field: "msg_type", value: "sticker", path: "msg_type",
                  reasonContains: "text|voice|image|file|location|video|custom"),
        ErrorCase(field: "msg_type", value: nil, path: "msg_type", description: "msg_type: required"),
    ]

    @Test("a bad field is reported by its JSON path", arguments: errorCases)
    func badField(c: ErrorCase) throws {
        let value = setting(c.field, to: c.value, in: try json(seedExample))
        let error = try #require(throws: ProtocolError.self) { try Message(json: value) }
        #expect(error.path == c.path)
        if let d = c.description { #expect(error.description == d) }
        if let s = c.reasonContains { #expect(error.reason.contains(s)) }
        #expect(error.description.hasPrefix(c.path + ": "))
    }

    @Test("the first bad field in document order is the one reported")
    func firstBadField() throws {
        var value = setting("target_type", to: "nope", in: try json(seedExample))
        value = setting("msg_body.text", to: nil, in: value)
        value = setting("create_time", to: "x", in: value)
        let error = try #require(throws: ProtocolError.self) { try Message(json: value) }
        #expect(error.path == "target_type")
    }

    @Test("the exact wording of the most common errors", arguments: [
        (#"{"text":5}"#, "msg_body.text: expected a string, got number"),
        (#"{}"#, "msg_body.text: required"),
        (#"{"txt":"typo"}"#, "msg_body.text: required"),
    ])
    func exactWording(body: String, expected: String) throws {
        let value = try json(messageText(msgType: "text", body: body))
        let error = try #require(throws: ProtocolError.self) { try Message(json: value) }
        #expect(error.description == expected)
    }

    @Test("a document that is not an object is refused at path \"\"", arguments: [
        "[]", "\"text\"", "1", "null", "true",
    ])
    func notAnObject(text: String) throws {
        let value = try json(text)
        let error = try #require(throws: ProtocolError.self) { try Message(json: value) }
        #expect(error.path == "")
        #expect(error.reason.hasPrefix("expected an object, got "))
    }

    @Test("malformed JSON text is refused before any field is looked at")
    func malformedText() throws {
        let broken = String(seedExample.dropLast(3))
        let error = try #require(throws: ProtocolError.self) { try Message(json: JSONValue.parse(broken)) }
        #expect(error.path == "")
        #expect(error.reason.hasPrefix("malformed JSON"))
    }

    @Test("an explicit path prefixes every field path")
    func nestedPath() throws {
        let value = setting("msg_body.text", to: 5, in: try json(seedExample))
        let error = try #require(throws: ProtocolError.self) { try Message(json: value, path: "messages.0") }
        #expect(error.description == "messages.0.msg_body.text: expected a string, got number")

        let versionError = try #require(throws: ProtocolError.self) {
            try Message(json: setting("version", to: 2, in: try json(seedExample)), path: "message")
        }
        #expect(versionError.path == "message.version")

        let notObject = try #require(throws: ProtocolError.self) { try Message(json: "x", path: "message") }
        #expect(notObject.description == "message: expected an object, got string")
    }

    // MARK: Codable

    @Test("Codable decoding validates like init(json:) and encoding gives the protocol object")
    func codable() throws {
        let m = try JSONDecoder().decode(Message.self, from: Data(seedExample.utf8))
        #expect(try m == Message(json: json(seedExample)))
        let encoded = try JSONEncoder().encode(m)
        #expect(try JSONValue.parse(encoded) == json(seedExample))

        let bad = setting("msg_body.text", to: nil, in: try json(seedExample)).serialized()
        do {
            _ = try JSONDecoder().decode(Message.self, from: Data(bad))
            Issue.record("decoding a message without msg_body.text succeeded")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription == "msg_body.text: required")
            #expect(context.underlyingError as? ProtocolError == ProtocolError(path: "msg_body.text", reason: "required"))
        }
    }

    @Test("a StoredMessage carries the id and millisecond time next to the message")
    func storedMessage() throws {
        let m = try Message(json: json(seedExample))
        let s = StoredMessage(msgID: 9_007_199_254_740_993, msgCtime: 1_700_000_000_123, message: m)
        #expect(s.msgID == 9_007_199_254_740_993)
        #expect(s.msgCtime == 1_700_000_000_123)
        #expect(s.message == m)
    }
}

/// `Message.serializedJSON`, the store's serializer, writes the same bytes as `json.serialized()` (the frames and
/// the stored text are compared byte for byte elsewhere), for every optional field present or absent, text that
/// needs escaping, every body type, and a body's JSON made beforehand.
@Suite("Message.serializedJSON")
struct MessageSerializedJSONTests {
    static func bodies() throws -> [MessageBody] {
        let voice = try MessageBody(type: .voice, json: JSONValue.parse(#"{"media_id":"qiniu/voice/1","media_crc32":1,"duration":3,"format":"amr","fsize":10}"#))
        let location = try MessageBody(type: .location, json: JSONValue.parse(#"{"latitude":22.5,"longitude":-113.9,"scale":1,"label":"x"}"#))
        return [
        .text("plain"),
        .text("quote \" backslash \\ newline \n tab \t return \r bell \u{07} nul \u{00} 中文 🦜", extras: ["k": .int(-1)]),
        .custom(["a": .array([.int(Int64.min), .int(Int64.max), .double(1.5), .null, .bool(true)]), "z": .string("")]),
        voice, location,
        ]
    }

    @Test("equals json.serialized() for every combination of optional fields", arguments: 0..<32)
    func equalsTheGeneralSerializer(mask: Int) throws {
        for (i, body) in try Self.bodies().enumerated() {
            let m = Message(targetType: TargetType.allCases[i % 3], targetID: "to\"\u{01}",
                            targetAppKey: mask & 1 != 0 ? "app-b" : nil, targetName: mask & 2 != 0 ? "Bob \\ 🦜" : nil,
                            fromType: FromType.allCases[mask % 3], fromID: "from",
                            fromAppKey: mask & 4 != 0 ? "app-a" : nil, fromName: mask & 8 != 0 ? "Ann\n" : nil,
                            fromPlatform: mask & 16 != 0 ? "web" : nil, createTime: mask == 3 ? -42 : 1_733_000_000 + Int64(mask),
                            body: body)
            let expected = m.json.serialized()
            #expect(m.serializedJSON() == expected)
            #expect(m.serializedJSON(bodyJSON: body.json.serialized()) == expected)
            #expect(try Message(json: JSONValue.parse(m.serializedJSON())) == m)
        }
    }

    @Test("integers at the edges of Int64 are written as String(describing:) writes them",
          arguments: [Int64.min, Int64.min + 1, -1_000_000_007, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_733_000_000_123, Int64.max])
    func integersAtTheEdges(value: Int64) {
        #expect(JSONValue.int(value).serialized() == Array(String(value).utf8))
    }
}
