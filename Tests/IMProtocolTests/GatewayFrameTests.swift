import IMProtocol
import Testing

private let sampleMessage = Message(
    targetType: .group, targetID: "10001", targetAppKey: "other-app", targetName: "Team", fromType: .user,
    fromID: "fang", fromAppKey: "my-app", fromName: "Fang", fromPlatform: "i", createTime: 1_700_000_000,
    body: .location(.init(latitude: 22.5, longitude: 114.25, scale: 15, label: "Office", extras: ["floor": 3])))

/// Every kind of client frame, with and without its optional fields.
let clientFrames: [ClientFrame] = [
    .login(.init(appKey: "4f7aef34fb361292c566a1cd", username: "fang", password: "secret")),
    .login(.init(id: "1", appKey: "k", username: "u", password: "", platform: "a", device: "phone-1",
                 since: 9_007_199_254_740_993)),
    .login(.init(appKey: "k", username: "u", password: "", token: "mt1.7.1700000000000.abc-_", device: "phone-1")),
    .send(.init(targetID: "javen", body: .text("hi"))),
    .send(.init(id: "c-7", requestID: "req-123", targetType: .group, targetID: "10001", targetAppKey: "other",
                targetName: "Team", fromName: "Fang", body: .text("hello", extras: ["mention": ["javen"]]),
                noOffline: true)),
    .send(.init(targetType: .chatroom, targetID: "room", body: .custom(["card": ["k": 1.5]]))),
    .send(.init(targetID: "javen", body: .image(.init(mediaID: "m", mediaCRC32: 1, width: 10, height: 20, fsize: 3)))),
    .ack(seq: 0),
    .ack(seq: 9_007_199_254_740_993),
    .ping(id: nil),
    .ping(id: "p-1"),
]

/// Every kind of server frame, with and without its optional fields.
let serverFrames: [ServerFrame] = [
    .loginOK(.init(id: "1", appKey: "k", username: "u", userType: .user, lastAck: 42, serverTime: 1_700_000_000_123)),
    .loginOK(.init(id: nil, appKey: "k", username: "bot", userType: .robot, lastAck: 0, serverTime: 1)),
    .sent(.init(id: "c-7", msgID: 9_007_199_254_740_993, msgCtime: 1_700_000_000_123)),
    .sent(.init(id: nil, msgID: 1, msgCtime: 2)),
    .message(.init(seq: 17, stored: StoredMessage(msgID: 9_007_199_254_740_993, msgCtime: 1_700_000_000_123,
                                                  message: sampleMessage))),
    .error(.init(code: .invalidParameter, message: "msg_body.text: required")),
    .error(.init(id: "1", code: .authenticationFailed, message: "authentication failed", fatal: true)),
    .pong(id: nil),
    .pong(id: "p-1"),
    .loginOK(.init(id: nil, appKey: "k", username: "u", userType: .user, lastAck: 0, serverTime: 1, token: "mt1.7.9.x",
                   tokenExpires: 9)),
]

@Suite("ClientFrame")
struct ClientFrameTests {
    @Test("every client frame round-trips through JSON", arguments: clientFrames)
    func roundTrip(frame: ClientFrame) throws {
        let value = frame.json
        #expect(try ClientFrame(json: value) == frame)
        let bytes = value.serialized()
        let reparsed = try ClientFrame(json: bytes)
        #expect(reparsed == frame)
        #expect(reparsed.json == value)
        #expect(reparsed.json.serialized() == bytes)
    }

    @Test("frames written by hand parse and serialize back to the same JSON", arguments: [
        #"{"op":"login","id":"1","appkey":"k","username":"u","password":"p","platform":"i","device":"d","since":5}"#,
        #"{"op":"send","id":"2","request_id":"r","target_type":"single","target_id":"javen","target_appkey":"a","target_name":"J","from_name":"F","msg_type":"text","msg_body":{"text":"hi","extras":{"x":1},"y":2},"no_offline":true}"#,
        #"{"op":"send","target_type":"group","target_id":"1","msg_type":"voice","msg_body":{"media_id":"m","media_crc32":1,"duration":2.5,"format":"amr","fsize":9}}"#,
        #"{"op":"login","appkey":"k","username":"u","token":"mt1.7.9.x","platform":"web","device":"d"}"#,
        #"{"op":"ack","seq":12}"#,
        #"{"op":"ping","id":"x"}"#,
        #"{"op":"ping"}"#,
    ])
    func canonical(text: String) throws {
        let value = try json(text)
        let frame = try ClientFrame(json: Array(text.utf8))
        #expect(frame.json == value)
    }

    @Test("login defaults: platform web, device default, no since")
    func loginDefaults() throws {
        let frame = try ClientFrame(json: json(#"{"op":"login","appkey":"k","username":"u","password":"p"}"#))
        guard case .login(let l) = frame else {
            Issue.record("not a login frame: \(frame)")
            return
        }
        #expect(l.platform == "web")
        #expect(l.device == "default")
        #expect(l.since == nil)
        #expect(l.id == nil)
        #expect(l.appKey == "k")
        #expect(l.username == "u")
        #expect(l.password == "p")
        #expect(l == ClientFrame.Login(appKey: "k", username: "u", password: "p"))
        // The defaults are written out explicitly.
        #expect(frame.json["platform"] == "web")
        #expect(frame.json["device"] == "default")
    }

    @Test("send defaults: target_type single, no_offline false")
    func sendDefaults() throws {
        let text = #"{"op":"send","target_id":"javen","msg_type":"text","msg_body":{"text":"hi"}}"#
        let frame = try ClientFrame(json: json(text))
        guard case .send(let s) = frame else {
            Issue.record("not a send frame: \(frame)")
            return
        }
        #expect(s.targetType == .single)
        #expect(s.noOffline == false)
        #expect(s.requestID == nil)
        #expect(s.body == .text("hi"))
        #expect(frame.json["target_type"] == "single")
        #expect(frame.json["no_offline"] == nil)
    }

    @Test("ack frames carry their sequence number")
    func ack() throws {
        #expect(try ClientFrame(json: json(#"{"op":"ack","seq":0}"#)) == .ack(seq: 0))
        #expect(try ClientFrame(json: json(#"{"op":"ack","seq":9223372036854775807}"#)) == .ack(seq: .max))
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var text: String
        var path: String
        var description: String?
        var testDescription: String { text }
    }

    @Test("bad client frames name the offending field", arguments: [
        Bad(text: #"{"op":"subscribe"}"#, path: "op", description: "op: unknown op 'subscribe', expected login|send|ack|ping"),
        Bad(text: #"{"op":"LOGIN","appkey":"k","username":"u","password":"p"}"#, path: "op"),
        Bad(text: #"{}"#, path: "op", description: "op: required"),
        Bad(text: #"{"op":""}"#, path: "op", description: "op: must not be empty"),
        Bad(text: #"{"op":1}"#, path: "op", description: "op: expected a string, got number"),
        Bad(text: #"{"op":"ack","seq":-1}"#, path: "seq", description: "seq: must not be negative"),
        Bad(text: #"{"op":"ack","seq":-9223372036854775808}"#, path: "seq", description: "seq: must not be negative"),
        Bad(text: #"{"op":"ack"}"#, path: "seq", description: "seq: required"),
        Bad(text: #"{"op":"ack","seq":"5"}"#, path: "seq", description: "seq: expected an integer, got string"),
        Bad(text: #"{"op":"ack","seq":1.5}"#, path: "seq", description: "seq: expected an integer, got number"),
        Bad(text: #"{"op":"login","username":"u","password":"p"}"#, path: "appkey", description: "appkey: required"),
        Bad(text: #"{"op":"login","appkey":"k","username":"u"}"#, path: "password", description: "password: required"),
        Bad(text: #"{"op":"login","appkey":"k","username":"u","token":""}"#, path: "token"),
        Bad(text: #"{"op":"login","appkey":"","username":"u","password":"p"}"#, path: "appkey",
            description: "appkey: must not be empty"),
        Bad(text: #"{"op":"login","appkey":"k","password":"p"}"#, path: "username", description: "username: required"),
        Bad(text: #"{"op":"login","appkey":"k","username":"u"}"#, path: "password", description: "password: required"),
        Bad(text: #"{"op":"login","appkey":"k","username":"u","password":"p","platform":1}"#, path: "platform",
            description: "platform: expected a string, got number"),
        Bad(text: #"{"op":"login","appkey":"k","username":"u","password":"p","since":"x"}"#, path: "since",
            description: "since: expected an integer, got string"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"text","msg_body":{}}"#, path: "msg_body.text",
            description: "msg_body.text: required"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"text","msg_body":{"text":5}}"#, path: "msg_body.text",
            description: "msg_body.text: expected a string, got number"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"text"}"#, path: "msg_body", description: "msg_body: required"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"text","msg_body":"hi"}"#, path: "msg_body",
            description: "msg_body: expected an object, got string"),
        Bad(text: #"{"op":"send","target_id":"j","msg_body":{"text":"hi"}}"#, path: "msg_type",
            description: "msg_type: required"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"gif","msg_body":{}}"#, path: "msg_type"),
        Bad(text: #"{"op":"send","msg_type":"text","msg_body":{"text":"hi"}}"#, path: "target_id",
            description: "target_id: required"),
        Bad(text: #"{"op":"send","target_type":"team","target_id":"j","msg_type":"text","msg_body":{"text":"hi"}}"#,
            path: "target_type"),
        Bad(text: #"{"op":"send","target_id":"j","msg_type":"text","msg_body":{"text":"hi"},"no_offline":"yes"}"#,
            path: "no_offline", description: "no_offline: expected a boolean, got string"),
        Bad(text: #"{"op":"send","request_id":"\#(String(repeating: "r", count: 129))","target_id":"j","msg_type":"text","msg_body":{"text":"hi"}}"#,
            path: "request_id", description: "request_id: longer than 128 bytes"),
        Bad(text: #"[{"op":"ping"}]"#, path: "", description: "expected an object, got array"),
    ])
    func bad(c: Bad) throws {
        let error = try #require(throws: ProtocolError.self) { try ClientFrame(json: Array(c.text.utf8)) }
        #expect(error.path == c.path)
        if let d = c.description { #expect(error.description == d) }
    }

    @Test("a request_id of exactly 128 bytes is accepted")
    func requestIDLimit() throws {
        let id = String(repeating: "r", count: 128)
        let text = #"{"op":"send","request_id":"\#(id)","target_id":"j","msg_type":"text","msg_body":{"text":"hi"}}"#
        guard case .send(let s) = try ClientFrame(json: json(text)) else {
            Issue.record("not a send frame")
            return
        }
        #expect(s.requestID == id)
    }

    @Test("malformed frame text is reported at path \"\" as malformed JSON", arguments: [
        #"{"op":"ping""#, "", "op=ping", #"{"op":"ping"} trailing"#,
    ])
    func malformed(text: String) throws {
        let error = try #require(throws: ProtocolError.self) { try ClientFrame(json: Array(text.utf8)) }
        #expect(error.path == "")
        #expect(error.reason.hasPrefix("malformed JSON"))
    }
}

@Suite("ServerFrame")
struct ServerFrameTests {
    @Test("serialized() writes the bytes of json.serialized() for every frame, the sent answer's own writer included",
          arguments: serverFrames + [
              .sent(.init(id: nil, msgID: 1, msgCtime: 0)),
              .sent(.init(id: "a \"quoted\" id\n🦜", msgID: Int64.max, msgCtime: -1)),
              .sent(.init(id: "", msgID: 0, msgCtime: 1_733_000_000_123)),
          ])
    func serializedEqualsTheGeneralSerializer(frame: ServerFrame) {
        #expect(frame.serialized() == frame.json.serialized())
    }

    @Test("every server frame round-trips through JSON", arguments: serverFrames)
    func roundTrip(frame: ServerFrame) throws {
        let value = frame.json
        #expect(try ServerFrame(json: value) == frame)
        let bytes = value.serialized()
        let reparsed = try ServerFrame(json: bytes)
        #expect(reparsed == frame)
        #expect(reparsed.json == value)
        #expect(reparsed.json.serialized() == bytes)
    }

    @Test("frames written by hand parse and serialize back to the same JSON", arguments: [
        #"{"op":"login_ok","id":"1","appkey":"k","username":"u","user_type":"admin","last_ack":3,"server_time":1700000000123}"#,
        #"{"op":"sent","id":"2","msg_id":9007199254740993,"msg_ctime":1700000000123}"#,
        #"{"op":"msg","seq":4,"msg_id":5,"msg_ctime":6,"message":{"version":1,"target_type":"single","target_id":"javen","target_name":"Javen Fang","from_type":"user","from_id":"fang","from_name":"Fang Javen","from_platform":"web","create_time":135432432187,"msg_type":"text","msg_body":{"text":"Hello, JPush IM!"}}}"#,
        #"{"op":"error","id":"3","code":899003,"message":"msg_body.text: required","fatal":true}"#,
        #"{"op":"error","code":899030,"message":"busy"}"#,
        #"{"op":"pong","id":"p"}"#,
        #"{"op":"pong"}"#,
    ])
    func canonical(text: String) throws {
        let value = try json(text)
        let frame = try ServerFrame(json: Array(text.utf8))
        #expect(frame.json == value)
    }

    @Test("a msg frame carries the stored message")
    func messageFrame() throws {
        let frame = serverFrames[4]
        guard case .message(let d) = try ServerFrame(json: frame.json.serialized()) else {
            Issue.record("not a msg frame")
            return
        }
        #expect(d.seq == 17)
        #expect(d.stored.msgID == 9_007_199_254_740_993)
        #expect(d.stored.msgCtime == 1_700_000_000_123)
        #expect(d.stored.message == sampleMessage)
        #expect(frame.json["message"] == sampleMessage.json)
    }

    @Test("error frames write the code as a bare number")
    func errorCodeOnTheWire() throws {
        let text = ServerFrame.error(.init(code: .invalidParameter, message: "bad")).json.serializedString()
        #expect(text == #"{"code":899003,"message":"bad","op":"error"}"#)
        let fatal = ServerFrame.error(.init(id: "9", code: .authenticationFailed, message: "no", fatal: true))
        #expect(fatal.json.serializedString() == #"{"code":899008,"fatal":true,"id":"9","message":"no","op":"error"}"#)
        guard case .error(let f) = try ServerFrame(json: json(#"{"op":"error","code":899008,"message":"no"}"#)) else {
            Issue.record("not an error frame")
            return
        }
        #expect(f.code == .authenticationFailed)
        #expect(f.fatal == false)
        #expect(f.id == nil)
    }

    @Test("an error inside a msg frame's message is reported with the nested path", arguments: [
        ("msg_body.media_id", nil, "message.msg_body.media_id: required"),
        ("msg_body.media_id", 5, "message.msg_body.media_id: expected a string, got number"),
        ("from_platform", 5, "message.from_platform: expected a string, got number"),
        ("version", 2, "message.version: unsupported version 2, expected 1"),
        ("msg_body", "x", "message.msg_body: expected an object, got string"),
    ] as [(String, JSONValue?, String)])
    func nestedPath(field: String, value: JSONValue?, expected: String) throws {
        let body = #"{"media_id":"m","media_crc32":1,"width":1,"height":1,"fsize":1}"#
        let message = setting(field, to: value, in: try json(messageText(msgType: "image", body: body)))
        var frame = try json(#"{"op":"msg","seq":1,"msg_id":2,"msg_ctime":3}"#)
        frame = setting("message", to: message, in: frame)
        let error = try #require(throws: ProtocolError.self) { try ServerFrame(json: frame.serialized()) }
        #expect(error.description == expected)
    }

    @Test("bad server frames name the offending field", arguments: [
        (#"{"op":"welcome"}"#, "op", "op: unknown op 'welcome'"),
        (#"{"id":"x"}"#, "op", "op: required"),
        (#"{"op":"msg","seq":1,"msg_id":2,"msg_ctime":3}"#, "message", "message: required"),
        (#"{"op":"msg","seq":1,"msg_id":2,"msg_ctime":3,"message":[]}"#, "message", "message: expected an object, got array"),
        (#"{"op":"sent","msg_id":"1","msg_ctime":2}"#, "msg_id", "msg_id: expected an integer, got string"),
        (#"{"op":"sent","msg_id":1}"#, "msg_ctime", "msg_ctime: required"),
        (#"{"op":"login_ok","appkey":"k","username":"u","user_type":"guest","last_ack":0,"server_time":0}"#,
         "user_type", nil),
        (#"{"op":"login_ok","appkey":"k","username":"u","user_type":"user","server_time":0}"#,
         "last_ack", "last_ack: required"),
        (#"{"op":"error","message":"m"}"#, "code", "code: required"),
        (#"{"op":"error","code":899003}"#, "message", "message: required"),
        (#"{"op":"error","code":899003,"message":"m","fatal":1}"#, "fatal", "fatal: expected a boolean, got number"),
        (#""pong""#, "", "expected an object, got string"),
    ] as [(String, String, String?)])
    func bad(text: String, path: String, description: String?) throws {
        let error = try #require(throws: ProtocolError.self) { try ServerFrame(json: Array(text.utf8)) }
        #expect(error.path == path)
        if let description { #expect(error.description == description) }
    }

    @Test("a msg frame with a valid message but a bad seq names seq")
    func badSeq() throws {
        var frame = try json(#"{"op":"msg","seq":"one","msg_id":2,"msg_ctime":3}"#)
        frame = setting("message", to: sampleMessage.json, in: frame)
        let error = try #require(throws: ProtocolError.self) { try ServerFrame(json: frame) }
        #expect(error.description == "seq: expected an integer, got string")
    }
}
