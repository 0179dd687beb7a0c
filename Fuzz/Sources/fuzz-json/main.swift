// The JSON parser (IMProtocol's JSONParser, through JSONValue.parse): any input is refused with a ProtocolError or
// parses to a value whose compact serialization parses back to the same value and serializes to the same bytes.
import FuzzSupport
import IMProtocol

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
    check(again == value, "round trip changed the value: \(value) became \(again)")
    check(again.serialized() == text, "serialization is not stable: \(String(decoding: text, as: UTF8.self))")
}
