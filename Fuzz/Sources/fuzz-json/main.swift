// The JSON parser (IMProtocol's JSONParser, through JSONValue.parse): any input is refused with a ProtocolError or
// parses to a value whose compact serialization parses back to the same value (numbers compared by value) and, from
// then on, to the same value and bytes.
import FuzzSupport
import IMProtocol

/// Equal, except that an integer and a double of exactly the same value count as equal. The parser types numbers as
/// JSONDecoder did, and one double it makes, -2^63 from digits just below Int64.min that round to it, is written as
/// `-9.223372036854776e+18`, which is read back as the integer Int64.min (the first finding of this target; the value
/// is the same, and the type rule is the documented one, so it stays).
func sameNumbers(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int(let i), .double(let d)), (.double(let d), .int(let i)): return Int64(exactly: d) == i
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(sameNumbers)
    case (.object(let x), .object(let y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameNumbers(value, $0) } ?? false }
    default: return a == b
    }
}

fuzzMain { bytes in
    guard let value = try? JSONValue.parse(bytes) else { return }
    let text = value.serialized()
    let again: JSONValue
    do {
        again = try JSONValue.parse(text)
    } catch {
        check(false, "serialization of a parsed value does not parse: \(error) in \(String(decoding: text, as: UTF8.self))")
        return
    }
    check(sameNumbers(again, value), "round trip changed the value: \(value) became \(again)")
    // From the first round trip on, value and bytes are fixed points.
    let second = again.serialized()
    check((try? JSONValue.parse(second)) == again, "a second round trip changed \(again)")
    check(again == value ? second == text : true, "serialization is not stable: \(String(decoding: text, as: UTF8.self))")
}
