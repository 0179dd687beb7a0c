import Foundation
import IMProtocol
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    // MARK: Integers

    @Test("64-bit integers survive parse and serialize exactly", arguments: [
        "9007199254740993",        // 2^53 + 1: not representable as a Double
        "9223372036854775807",     // Int64.max
        "-9223372036854775808",    // Int64.min
        "1234567890123456789",
        "0",
        "-1",
    ])
    func int64RoundTrip(text: String) throws {
        let value = try json(text)
        #expect(value == .int(try #require(Int64(text))))
        #expect(value.serializedString() == text)
        #expect(try json(value.serializedString()) == value)
    }

    @Test("a 64-bit id inside an object and an array keeps every digit")
    func int64Nested() throws {
        let text = #"{"ids":[9007199254740993,9007199254740995],"msg_id":9007199254740993}"#
        let value = try json(text)
        #expect(value["msg_id"] == .int(9_007_199_254_740_993))
        #expect(value["ids"] == .array([.int(9_007_199_254_740_993), .int(9_007_199_254_740_995)]))
        #expect(value.serializedString() == text)
        #expect(value["msg_id"]?.intValue == 9_007_199_254_740_993)
    }

    // MARK: Strings

    @Test("quotes, backslash, newline and other control characters are escaped")
    func stringEscaping() throws {
        let s = "q\"b\\n\nr\rt\tc\u{01}z\u{1F}"
        let serialized = JSONValue.string(s).serializedString()
        #expect(serialized == #""q\"b\\n\nr\rt\tc\u0001z\u001f""#)
        #expect(try json(serialized) == .string(s))
    }

    @Test("control characters never appear raw in the output")
    func noRawControlCharacters() throws {
        let all = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        let bytes = JSONValue.string(all).serialized()
        #expect(!bytes.contains { $0 < 0x20 })
        #expect(try JSONValue.parse(bytes) == .string(all))
    }

    @Test("non-ASCII text (emoji, Chinese) round-trips as UTF-8", arguments: [
        "你好，极光 IM！",
        "😀👍🏽👨‍👩‍👧",
        "mixed: é ß ж 日本語 🎉 \"quoted\" \\ \n",
    ])
    func unicodeRoundTrip(s: String) throws {
        let value = JSONValue.string(s)
        let bytes = value.serialized()
        #expect(try JSONValue.parse(bytes) == value)
        // Non-ASCII is written as UTF-8, not as \u escapes.
        if !s.contains(where: { $0 == "\"" || $0 == "\\" || $0 == "\n" }) {
            #expect(bytes == Array("\"\(s)\"".utf8))
        }
    }

    @Test("\\u escapes in the input, including surrogate pairs, decode to the right characters")
    func unicodeEscapesInInput() throws {
        let value = try json(#"["\u4e2d\u6587","\ud83d\ude00","\u0001","\/"]"#)
        #expect(value == .array(["中文", "😀", "\u{01}", "/"]))
    }

    // MARK: Objects and arrays

    @Test("object keys are serialized sorted, at every level")
    func sortedKeys() throws {
        let value = try json(#"{"b":1,"a":{"z":true,"y":null,"x":[{"d":1,"c":2}]},"C":"upper","_":0}"#)
        #expect(value.serializedString() == #"{"C":"upper","_":0,"a":{"x":[{"c":2,"d":1}],"y":null,"z":true},"b":1}"#)
    }

    @Test("equal values serialize to equal bytes whatever the insertion order")
    func deterministic() {
        var a: [String: JSONValue] = [:]
        var b: [String: JSONValue] = [:]
        for i in 0..<50 { a["k\(i)"] = .int(Int64(i)) }
        for i in (0..<50).reversed() { b["k\(i)"] = .int(Int64(i)) }
        #expect(JSONValue.object(a).serialized() == JSONValue.object(b).serialized())
    }

    @Test("compact output: no whitespace between tokens")
    func compact() throws {
        let value = try json("  { \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : \"x y\" }  ")
        #expect(value.serializedString() == #"{"a":[1,2,{},[]],"b":"x y"}"#)
    }

    @Test("documents round-trip to an equal JSONValue", arguments: [
        "null", "true", "false", "0", "-7", "1.5", #""""#, #""s""#, "[]", "{}",
        #"[null,true,false,1,-2.25,"x",[],{}]"#,
        #"{"a":{"b":{"c":[1,{"d":"e"}]}},"n":null,"t":true,"f":false,"big":9007199254740993,"neg":-0.5}"#,
    ])
    func documentRoundTrip(text: String) throws {
        let value = try json(text)
        let again = try JSONValue.parse(value.serialized())
        #expect(again == value)
        #expect(again.serialized() == value.serialized())
    }

    @Test("the first of duplicate keys wins, at the top level and nested, whatever the number of keys")
    func firstDuplicateKeyWins() throws {
        #expect(try json(#"{"a":1,"a":2}"#) == ["a": 1])
        #expect(try json(#"{"o":{"k":"first","k":"second","k":"third"}}"#) == ["o": ["k": "first"]])
        // More keys than the room a top-level object is given at once: it grows, and the rule holds.
        let many = (0..<40).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let value = try json("{\(many),\"k7\":-1,\"k39\":-1}")
        guard case .object(let object) = value else { Issue.record("not an object: \(value)"); return }
        #expect(object.count == 40)
        #expect(object["k7"] == 7 && object["k39"] == 39)
    }

    // MARK: Doubles

    @Test("fractional doubles keep their value", arguments: [1.5, -0.25, 0.1, 3.14159, 123456.789, 1e-7, 2.5e20])
    func fractionalDoubles(d: Double) throws {
        let value = JSONValue.double(d)
        let text = value.serializedString()
        #expect(try json(text).doubleValue == d)
    }

    @Test("1.5 stays 1.5")
    func onePointFive() throws {
        let value = try json("1.5")
        #expect(value == .double(1.5))
        #expect(value.serializedString() == "1.5")
        #expect(value.intValue == nil)
        #expect(JSONValue.double(1.5).serializedString() == "1.5")
    }

    @Test("integral doubles print without a fraction", arguments: [
        (3.0, "3"), (-2.0, "-2"), (0.0, "0"), (1_700_000_000.0, "1700000000"), (720.0, "720"),
    ])
    func integralDoubles(d: Double, expected: String) throws {
        #expect(JSONValue.double(d).serializedString() == expected)
        #expect(try json(expected).doubleValue == d)
    }

    @Test(
        "integral doubles of 1e15 up to 2^53 print without a fraction too",
        arguments: [(1e15, "1000000000000000"), (-5e15, "-5000000000000000"), (9_007_199_254_740_992.0, "9007199254740992")]
    )
    func largeIntegralDoubles(d: Double, expected: String) throws {
        #expect(JSONValue.double(d).serializedString() == expected)
    }

    @Test("large integral doubles keep their value through a round trip", arguments: [1e15, -5e15, 1e16, 1e20, 9.2e18])
    func largeIntegralDoublesValue(d: Double) throws {
        let text = JSONValue.double(d).serializedString()
        #expect(try json(text).doubleValue == d)
    }

    @Test("non-finite doubles are written as null, keeping the output valid JSON")
    func nonFinite() throws {
        let value = JSONValue.array([.double(.infinity), .double(-.infinity), .double(.nan)])
        #expect(value.serializedString() == "[null,null,null]")
    }

    @Test("JSONValue.number stores whole numbers as integers")
    func numberHelper() {
        #expect(JSONValue.number(3) == .int(3))
        #expect(JSONValue.number(-40) == .int(-40))
        #expect(JSONValue.number(2.5) == .double(2.5))
    }

    // MARK: Accessors

    @Test("typeName names the JSON type as error messages do")
    func typeNames() {
        #expect(JSONValue.null.typeName == "null")
        #expect(JSONValue.bool(true).typeName == "boolean")
        #expect(JSONValue.int(1).typeName == "number")
        #expect(JSONValue.double(1.5).typeName == "number")
        #expect(JSONValue.string("").typeName == "string")
        #expect(JSONValue.array([]).typeName == "array")
        #expect(JSONValue.object([:]).typeName == "object")
    }

    @Test("accessors return nil for the wrong type")
    func accessors() {
        let o: JSONValue = ["s": "x", "i": 5, "d": 2.0, "f": 2.5, "b": true, "n": nil]
        #expect(o["s"]?.stringValue == "x")
        #expect(o["i"]?.intValue == 5)
        #expect(o["d"]?.intValue == 2)
        #expect(o["f"]?.intValue == nil)
        #expect(o["f"]?.doubleValue == 2.5)
        #expect(o["i"]?.doubleValue == 5)
        #expect(o["b"]?.boolValue == true)
        #expect(o["n"] == .null)
        #expect(o["missing"] == nil)
        #expect(o["s"]?.intValue == nil)
        #expect(o["i"]?.stringValue == nil)
        #expect(o["b"]?.objectValue == nil)
        #expect(JSONValue.string("x")["key"] == nil)
        #expect(o.objectValue?.count == 6)
    }

    @Test("literals build the expected cases")
    func literals() {
        let v: JSONValue = ["a": [1, "two", 3.5, true, nil]]
        #expect(v == .object(["a": .array([.int(1), .string("two"), .double(3.5), .bool(true), .null])]))
    }

    // MARK: Errors

    @Test("malformed JSON text gives path \"\" and a \"malformed JSON\" reason", arguments: [
        "", "   ", "{", "}", #"{"a":}"#, #"{"a" 1}"#, "tru", #""unterminated"#, "{'a':1}", "[1 2]", "nul",
        "{a:1}", "01", "+1", ".5", "NaN", "Infinity", "0x10", "[1]x", "// comment\n[1]", "1E400",
        "\"raw\ttab\"", "\"raw\u{01}control\"", #""\ud800""#,
    ])
    func malformed(text: String) throws {
        let error = try #require(throws: ProtocolError.self) { try JSONValue.parse(text) }
        #expect(error.path == "")
        #expect(error.reason.hasPrefix("malformed JSON"))
        #expect(error.description == error.reason)
    }

    @Test(
        "a trailing comma is tolerated, as Foundation's decoder does (documented leniency)",
        arguments: [("[1,]", JSONValue.array([1])), (#"{"a":1,}"#, JSONValue.object(["a": 1]))] as [(String, JSONValue)]
    )
    func trailingComma(text: String, expected: JSONValue) throws {
        #expect(try JSONValue.parse(text) == expected)
    }

    @Test("malformed UTF-8 bytes are rejected as malformed JSON")
    func malformedBytes() throws {
        let bytes: [UInt8] = [UInt8(ascii: "\""), 0xFF, 0xFE, UInt8(ascii: "\"")]
        let error = try #require(throws: ProtocolError.self) { try JSONValue.parse(bytes) }
        #expect(error.path == "")
        #expect(error.reason.hasPrefix("malformed JSON"))
    }

    // MARK: The parser against Foundation's decoder

    @Test("the parser reads every document as Foundation's JSONDecoder did, and refuses what it refused", arguments: [
        "1.0", "-0", "-0.0", "1e2", "1E+2", "2.5e20", "9.2e18", "12345678901234567890", "-9223372036854775809",
        "9223372036854775807", "1e-7", "0.1", "123456.789", "1.7976931348623157e308", "5e-324",
        #"{"a":1,"a":2}"#, #"[1,]"#, #"{"a":1,}"#, "[,]", "[1,,2]", #"{,}"#, "[]", "{}", " [ 1 , { \"k\" : [ ] } ] ",
        #""\u00e9\u4e2d\ud83d\ude00\b\f\n\r\t\"\\\/""#, #""\udc00""#, #""\ud83dx""#, #""\u12""#, #""\x""#,
        "\"é中😀\"", "true", "false", "null", "tru", "nulll", "[1]]", "{\"a\"}", "-", "1.", "1e", "01", "-01",
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func sameAsFoundation(text: String) throws {
        let ours = Result { try JSONValue.parse(text) }
        let foundation = Result { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
        switch (ours, foundation) {
        case (.success(let a), .success(let b)): #expect(a == b)
        case (.failure, .failure): break
        default: Issue.record("ours: \(ours), Foundation: \(foundation)")
        }
    }

    // MARK: Codable

    @Test("Codable through JSONEncoder/JSONDecoder keeps the value")
    func codable() throws {
        let value = try json(#"{"a":[1,2.5,"x",null,true,{"b":9007199254740993}]}"#)
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
        #expect(try JSONValue.parse(data) == value)
    }
}

@Suite("ProtocolError")
struct ProtocolErrorTests {
    @Test("description is `path: reason`, or just the reason for the document")
    func description() {
        #expect(ProtocolError(path: "msg_body.text", reason: "required").description == "msg_body.text: required")
        #expect(ProtocolError(path: "", reason: "malformed JSON").description == "malformed JSON")
        #expect("\(ProtocolError(path: "op", reason: "x"))" == "op: x")
    }

    @Test("errors compare by path and reason")
    func equality() {
        #expect(ProtocolError(path: "a", reason: "b") == ProtocolError(path: "a", reason: "b"))
        #expect(ProtocolError(path: "a", reason: "b") != ProtocolError(path: "a", reason: "c"))
        #expect(ProtocolError(path: "a", reason: "b") != ProtocolError(path: "x", reason: "b"))
    }
}

@Suite("ErrorCode")
struct ErrorCodeTests {
    @Test("raw values are the JMessage codes", arguments: [
        (ErrorCode.internalError, 899000),
        (.userExists, 899001),
        (.userNotFound, 899002),
        (.invalidParameter, 899003),
        (.groupIDNotFound, 899006),
        (.missingAuthentication, 899007),
        (.authenticationFailed, 899008),
        (.appKeyNotFound, 899009),
        (.tooManyUsers, 899013),
        (.senderNotPermitted, 899016),
        (.crossAppNotPermitted, 899020),
        (.busy, 899030),
    ])
    func rawValues(code: ErrorCode, raw: Int) throws {
        #expect(code.rawValue == raw)
        #expect(code == ErrorCode(rawValue: raw))
        #expect(code.description == String(raw))
        // Encoded as a bare number, alone and as a member.
        #expect(String(decoding: try JSONEncoder().encode(code), as: UTF8.self) == String(raw))
        let wrapped = String(decoding: try JSONEncoder().encode(["code": code]), as: UTF8.self)
        #expect(wrapped == #"{"code":\#(raw)}"#)
        #expect(try JSONDecoder().decode(ErrorCode.self, from: Data(String(raw).utf8)) == code)
    }

    @Test("a quoted code is not accepted")
    func quotedRejected() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ErrorCode.self, from: Data(#""899003""#.utf8))
        }
    }

    @Test("unknown codes pass through unchanged")
    func unknownCode() throws {
        let code = try JSONDecoder().decode(ErrorCode.self, from: Data("1011".utf8))
        #expect(code.rawValue == 1011)
        #expect(String(decoding: try JSONEncoder().encode(code), as: UTF8.self) == "1011")
    }
}
