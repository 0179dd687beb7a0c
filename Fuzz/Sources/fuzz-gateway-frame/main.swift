// The gateway frame decoder (ClientFrame and ServerFrame from JSON): any input is refused with a ProtocolError or
// decodes to a frame whose JSON, written out and read back, decodes to the same frame.
import FuzzSupport
import IMProtocol

fuzzMain { bytes in
    if let frame = try? ClientFrame(json: bytes) {
        let text = frame.json.serialized()
        do {
            let again = try ClientFrame(json: text)
            check(again == frame, "client frame round trip changed \(frame) into \(again)")
        } catch {
            check(false, "client frame \(frame) encodes to JSON it does not decode: \(error)")
        }
    }
    if let frame = try? ServerFrame(json: bytes) {
        let text = frame.json.serialized()
        do {
            let again = try ServerFrame(json: text)
            check(again == frame, "server frame round trip changed \(frame) into \(again)")
        } catch {
            check(false, "server frame \(frame) encodes to JSON it does not decode: \(error)")
        }
    }
}
