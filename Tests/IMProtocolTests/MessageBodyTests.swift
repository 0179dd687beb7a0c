import Foundation
import IMProtocol
import Testing

/// One body per `msg_type`, with every documented field, `extras`, and keys the protocol does not define.
let fullBodies: [(type: MessageType, body: String)] = [
    (.text, #"{"text":"Hello, JPush IM!","extras":{"k":"v","n":9007199254740993},"x_client":{"theme":"dark"}}"#),
    (.voice, #"{"media_id":"qiniu/voice/j/AB12","media_crc32":1027543937,"duration":5,"format":"amr","fsize":8192,"extras":{"a":[1,2]},"x_unknown":true}"#),
    (.image, #"{"media_id":"qiniu/image/j/CD34.png","media_crc32":2778919613,"width":720,"height":1280,"format":"png","fsize":123456,"img_link":"https://example.com/p.png","extras":{},"x_blur":"LEHV6nWB2yk8"}"#),
    (.file, #"{"media_id":"qiniu/file/j/EF56","media_crc32":4294967295,"fsize":1048576,"fname":"报告 v2.pdf","extras":{"folder":"docs"},"x_mime":"application/pdf"}"#),
    (.location, #"{"latitude":22.543096,"longitude":114.057865,"scale":16,"label":"深圳市 福田区","extras":{"poi":12},"x_accuracy":5.5}"#),
    (.video, #"{"media_id":"qiniu/video/j/GH78","media_crc32":305419896,"fsize":7340032,"duration":12.5,"format":"mp4","thumb_media_id":"qiniu/image/j/thumb","extras":{"muted":false},"x_codec":"h264"}"#),
    (.custom, #"{"card":{"title":"Hi","buttons":[{"id":1,"label":"OK"}]},"big":9007199254740993,"ratio":0.75,"extras":{"e":null},"flag":true,"nothing":null}"#),
]

/// One body per `msg_type` with only the required fields.
let minimalBodies: [(type: MessageType, body: String)] = [
    (.text, #"{"text":""}"#),
    (.voice, #"{"media_id":"m","media_crc32":0,"duration":1.5,"format":"mp3","fsize":1}"#),
    (.image, #"{"media_id":"m","media_crc32":1,"width":1,"height":2,"fsize":3}"#),
    (.file, #"{"media_id":"m","media_crc32":1,"fsize":3,"fname":"a.txt"}"#),
    (.location, #"{"latitude":-33.8688,"longitude":151.2093}"#),
    (.video, #"{"media_id":"m","media_crc32":1,"fsize":3}"#),
    (.custom, #"{}"#),
]

@Suite("MessageBody")
struct MessageBodyTests {
    // MARK: Round trips

    @Test("every msg_type round-trips with extras and unknown keys", arguments: fullBodies)
    func fullRoundTrip(type: MessageType, body: String) throws {
        let original = try json(messageText(msgType: type.rawValue, body: body))
        let m = try Message(json: original)
        #expect(m.msgType == type)
        #expect(m.body.type == type)
        // Meaning is kept: the serialized message equals the original document.
        #expect(m.json == original)
        #expect(try JSONValue.parse(m.json.serialized()) == original)
        #expect(try Message(json: JSONValue.parse(m.json.serialized())) == m)
        // The body on its own, too.
        let b = try MessageBody(type: type, json: json(body))
        #expect(b == m.body)
        #expect(try b.json == json(body))
    }

    @Test("every msg_type round-trips with only its required fields", arguments: minimalBodies)
    func minimalRoundTrip(type: MessageType, body: String) throws {
        let original = try json(messageText(msgType: type.rawValue, body: body))
        let m = try Message(json: original)
        #expect(m.msgType == type)
        #expect(m.json == original)
        #expect(try Message(json: JSONValue.parse(m.json.serialized())) == m)
    }

    @Test("unknown body keys are kept in additionalFields, extras apart", arguments: fullBodies.filter { $0.type != .custom })
    func additionalFields(type: MessageType, body: String) throws {
        let b = try MessageBody(type: type, json: json(body))
        let expectedExtra = try object(body).filter { $0.key.hasPrefix("x_") }
        let expectedExtras = try object(body)["extras"]?.objectValue
        let (extras, additional): ([String: JSONValue]?, [String: JSONValue]) =
            switch b {
            case .text(let t): (t.extras, t.additionalFields)
            case .voice(let v): (v.extras, v.additionalFields)
            case .image(let i): (i.extras, i.additionalFields)
            case .file(let f): (f.extras, f.additionalFields)
            case .location(let l): (l.extras, l.additionalFields)
            case .video(let v): (v.extras, v.additionalFields)
            case .custom: (nil, [:])
            }
        #expect(additional == expectedExtra)
        #expect(extras == expectedExtras)
    }

    // MARK: Typed fields

    @Test("text body fields")
    func textFields() throws {
        let b = try MessageBody(type: .text, json: json(fullBodies[0].body))
        let t = try #require(textBody(b))
        #expect(t.text == "Hello, JPush IM!")
        #expect(t.extras == ["k": "v", "n": .int(9_007_199_254_740_993)])
        #expect(t.additionalFields == ["x_client": ["theme": "dark"]])
        #expect(b.text == "Hello, JPush IM!")
    }

    @Test("voice body fields")
    func voiceFields() throws {
        guard case .voice(let v) = try MessageBody(type: .voice, json: json(fullBodies[1].body)) else {
            Issue.record("not a voice body")
            return
        }
        #expect(v.mediaID == "qiniu/voice/j/AB12")
        #expect(v.mediaCRC32 == 1_027_543_937)
        #expect(v.duration == 5)
        #expect(v.format == "amr")
        #expect(v.fsize == 8192)
        #expect(v.extras == ["a": [1, 2]])
        #expect(v.additionalFields == ["x_unknown": true])
    }

    @Test("image body fields")
    func imageFields() throws {
        guard case .image(let i) = try MessageBody(type: .image, json: json(fullBodies[2].body)) else {
            Issue.record("not an image body")
            return
        }
        #expect(i.mediaID == "qiniu/image/j/CD34.png")
        #expect(i.mediaCRC32 == 2_778_919_613)
        #expect(i.width == 720)
        #expect(i.height == 1280)
        #expect(i.format == "png")
        #expect(i.fsize == 123_456)
        #expect(i.imgLink == "https://example.com/p.png")
        #expect(i.extras == [:])
        #expect(i.additionalFields == ["x_blur": "LEHV6nWB2yk8"])
    }

    @Test("file body fields")
    func fileFields() throws {
        guard case .file(let f) = try MessageBody(type: .file, json: json(fullBodies[3].body)) else {
            Issue.record("not a file body")
            return
        }
        #expect(f.mediaID == "qiniu/file/j/EF56")
        #expect(f.mediaCRC32 == 4_294_967_295)
        #expect(f.fsize == 1_048_576)
        #expect(f.fname == "报告 v2.pdf")
        #expect(f.extras == ["folder": "docs"])
        #expect(f.additionalFields == ["x_mime": "application/pdf"])
    }

    @Test("location body fields")
    func locationFields() throws {
        guard case .location(let l) = try MessageBody(type: .location, json: json(fullBodies[4].body)) else {
            Issue.record("not a location body")
            return
        }
        #expect(l.latitude == 22.543096)
        #expect(l.longitude == 114.057865)
        #expect(l.scale == 16)
        #expect(l.label == "深圳市 福田区")
        #expect(l.extras == ["poi": 12])
        #expect(l.additionalFields == ["x_accuracy": 5.5])
    }

    @Test("video body fields")
    func videoFields() throws {
        guard case .video(let v) = try MessageBody(type: .video, json: json(fullBodies[5].body)) else {
            Issue.record("not a video body")
            return
        }
        #expect(v.mediaID == "qiniu/video/j/GH78")
        #expect(v.mediaCRC32 == 305_419_896)
        #expect(v.fsize == 7_340_032)
        #expect(v.duration == 12.5)
        #expect(v.format == "mp4")
        #expect(v.thumbMediaID == "qiniu/image/j/thumb")
        #expect(v.extras == ["muted": false])
        #expect(v.additionalFields == ["x_codec": "h264"])
    }

    @Test("a custom body is the whole object, kept as is")
    func customFields() throws {
        let body = try json(fullBodies[6].body)
        let b = try MessageBody(type: .custom, json: body)
        let members = try #require(body.objectValue)
        #expect(b == .custom(members))
        #expect(b.text == nil)
        #expect(b.json == body)
        #expect(b.json.serializedString().contains("9007199254740993"))
    }

    @Test("optional body fields absent stay absent")
    func optionalAbsent() throws {
        guard case .image(let i) = try MessageBody(type: .image, json: json(minimalBodies[2].body)) else {
            Issue.record("not an image body")
            return
        }
        #expect(i.format == nil)
        #expect(i.imgLink == nil)
        #expect(i.extras == nil)
        #expect(i.additionalFields.isEmpty)
        guard case .video(let v) = try MessageBody(type: .video, json: json(minimalBodies[5].body)) else {
            Issue.record("not a video body")
            return
        }
        #expect(v.duration == nil)
        #expect(v.format == nil)
        #expect(v.thumbMediaID == nil)
        guard case .location(let l) = try MessageBody(type: .location, json: json(minimalBodies[4].body)) else {
            Issue.record("not a location body")
            return
        }
        #expect(l.scale == nil)
        #expect(l.label == nil)
    }

    // MARK: Location's `lable`

    @Test("location accepts the protocol document's spelling `lable` as label")
    func lableSpelling() throws {
        let body = #"{"latitude":39.9042,"longitude":116.4074,"scale":12,"lable":"北京","extras":{"k":1},"x":"y"}"#
        let m = try Message(json: json(messageText(msgType: "location", body: body)))
        guard case .location(let l) = m.body else {
            Issue.record("not a location body")
            return
        }
        #expect(l.label == "北京")
        #expect(l.additionalFields == ["x": "y"])
        #expect(l.extras == ["k": 1])
        // Written back with the standard spelling, and nothing lost on the way.
        #expect(m.json["msg_body"]?["label"] == "北京")
        #expect(m.json["msg_body"]?["lable"] == nil)
        #expect(try Message(json: JSONValue.parse(m.json.serialized())) == m)
        // The same location sent with `label` parses to the same message.
        let standard = body.replacingOccurrences(of: "\"lable\"", with: "\"label\"")
        #expect(try Message(json: json(messageText(msgType: "location", body: standard))) == m)
    }

    @Test("when both `label` and `lable` are present, `label` wins")
    func labelWins() throws {
        let b = try MessageBody(type: .location,
                                json: json(#"{"latitude":1,"longitude":2,"label":"right","lable":"typo"}"#))
        guard case .location(let l) = b else {
            Issue.record("not a location body")
            return
        }
        #expect(l.label == "right")
        #expect(l.additionalFields.isEmpty)
    }

    @Test("`lable` of the wrong type is reported at its own path")
    func lableWrongType() throws {
        let error = try #require(throws: ProtocolError.self) {
            try MessageBody(type: .location, json: json(#"{"latitude":1,"longitude":2,"lable":3}"#))
        }
        #expect(error.description == "msg_body.lable: expected a string, got number")
    }

    // MARK: Numbers

    @Test("whole numbers in number fields are written without a fraction, fractions are kept")
    func numberFormatting() throws {
        let body = MessageBody.image(.init(mediaID: "m", mediaCRC32: 1, width: 720, height: 1280.5, fsize: 9))
        let text = body.json.serializedString()
        #expect(text.contains(#""width":720,"#) || text.contains(#""width":720}"#))
        #expect(text.contains(#""height":1280.5"#))
        let voice = MessageBody.voice(.init(mediaID: "m", mediaCRC32: 1, duration: 2.5, format: "amr", fsize: 9))
        #expect(voice.json["duration"] == .double(2.5))
        let whole = MessageBody.voice(.init(mediaID: "m", mediaCRC32: 1, duration: 3, format: "amr", fsize: 9))
        #expect(whole.json["duration"] == .int(3))
    }

    @Test("an integral double in an integer field is accepted")
    func integralDoubleForInt() throws {
        let b = try MessageBody(type: .file, json: json(#"{"media_id":"m","media_crc32":5.0,"fsize":1e3,"fname":"f"}"#))
        guard case .file(let f) = b else {
            Issue.record("not a file body")
            return
        }
        #expect(f.mediaCRC32 == 5)
        #expect(f.fsize == 1000)
    }

    // MARK: Built in code

    @Test("bodies built in code serialize to the protocol keys")
    func builtInCode() throws {
        #expect(MessageBody.text("hi").json == ["text": "hi"])
        #expect(MessageBody.text("hi", extras: ["k": 1]).json == ["text": "hi", "extras": ["k": 1]])
        var t = MessageBody.Text(text: "hi")
        t.additionalFields = ["text": "not me", "x": 1]
        #expect(MessageBody.text(t).json == ["text": "hi", "x": 1])

        let file = MessageBody.file(.init(mediaID: "m", mediaCRC32: 7, fsize: 8, fname: "a.txt", extras: ["e": true]))
        #expect(try file.json == json(#"{"media_id":"m","media_crc32":7,"fsize":8,"fname":"a.txt","extras":{"e":true}}"#))

        let loc = MessageBody.location(.init(latitude: 1.25, longitude: -2.5, scale: 3, label: "here"))
        #expect(try loc.json == json(#"{"latitude":1.25,"longitude":-2.5,"scale":3,"label":"here"}"#))

        let video = MessageBody.video(.init(mediaID: "m", mediaCRC32: 1, fsize: 2, duration: 3.5, format: "mp4",
                                            thumbMediaID: "t"))
        #expect(try video.json == json(#"{"media_id":"m","media_crc32":1,"fsize":2,"duration":3.5,"format":"mp4","thumb_media_id":"t"}"#))

        for (type, text) in fullBodies {
            let b = try MessageBody(type: type, json: json(text))
            #expect(try MessageBody(type: type, json: b.json) == b)
        }
    }

    @Test("each case reports its msg_type")
    func types() throws {
        for (type, text) in fullBodies {
            #expect(try MessageBody(type: type, json: json(text)).type == type)
        }
        #expect(MessageBody.text("x").text == "x")
        #expect(MessageBody.custom([:]).text == nil)
    }

    // MARK: Errors

    @Test("a missing or mistyped required body field is reported under msg_body", arguments: [
        (MessageType.voice, #"{"media_id":"m","duration":1,"format":"amr","fsize":1}"#, "msg_body.media_crc32: required"),
        (.voice, #"{"media_id":"m","media_crc32":1,"duration":"3","format":"amr","fsize":1}"#,
         "msg_body.duration: expected a number, got string"),
        (.voice, #"{"media_id":"m","media_crc32":1,"duration":1,"fsize":1}"#, "msg_body.format: required"),
        (.image, #"{"media_crc32":1,"width":1,"height":1,"fsize":1}"#, "msg_body.media_id: required"),
        (.image, #"{"media_id":"","media_crc32":1,"width":1,"height":1,"fsize":1}"#, "msg_body.media_id: must not be empty"),
        (.image, #"{"media_id":"m","media_crc32":1,"width":1,"height":1}"#, "msg_body.fsize: required"),
        (.image, #"{"media_id":"m","media_crc32":1,"width":1,"height":1,"fsize":1,"img_link":false}"#,
         "msg_body.img_link: expected a string, got boolean"),
        (.file, #"{"media_id":"m","media_crc32":1,"fsize":1}"#, "msg_body.fname: required"),
        (.file, #"{"media_id":"m","media_crc32":1.5,"fsize":1,"fname":"f"}"#,
         "msg_body.media_crc32: expected an integer, got number"),
        (.location, #"{"longitude":1}"#, "msg_body.latitude: required"),
        (.location, #"{"latitude":1,"longitude":"east"}"#, "msg_body.longitude: expected a number, got string"),
        (.video, #"{"media_id":"m","media_crc32":1}"#, "msg_body.fsize: required"),
        (.video, #"{"media_id":"m","media_crc32":1,"fsize":1,"thumb_media_id":[]}"#,
         "msg_body.thumb_media_id: expected a string, got array"),
        (.text, #"{"text":"t","extras":[1]}"#, "msg_body.extras: expected an object, got array"),
        (.custom, #"{"extras":"not an object"}"#, "msg_body.extras: expected an object, got string"),
        (.custom, #"[]"#, "msg_body: expected an object, got array"),
    ])
    func badBodyField(type: MessageType, body: String, expected: String) throws {
        let value = try json(body)
        let error = try #require(throws: ProtocolError.self) { try MessageBody(type: type, json: value) }
        #expect(error.description == expected)
        // Inside a message the path is the same.
        let m = try json(messageText(msgType: type.rawValue, body: body))
        let inMessage = try #require(throws: ProtocolError.self) { try Message(json: m) }
        #expect(inMessage.description == expected)
    }

    @Test("the body path can be given")
    func customPath() throws {
        let error = try #require(throws: ProtocolError.self) {
            try MessageBody(type: .text, json: json("{}"), path: "payload")
        }
        #expect(error.description == "payload.text: required")
    }

    @Test("a body that does not match msg_type is refused")
    func mismatchedType() throws {
        let m = try json(messageText(msgType: "image", body: #"{"text":"hello"}"#))
        let error = try #require(throws: ProtocolError.self) { try Message(json: m) }
        #expect(error.path.hasPrefix("msg_body."))
        #expect(error.reason == "required")
    }
}

private func textBody(_ b: MessageBody) -> MessageBody.Text? {
    if case .text(let t) = b { return t }
    return nil
}
