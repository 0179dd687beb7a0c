// The voice sniffer (AudioFormat.sniff and detect): never crashes, gives the same answer for a slice that does not
// start at index 0, and only ever names a format it has a Content-Type for.
import FuzzSupport
import Media

fuzzMain { raw in
    let bytes = Array(raw)
    let sniffed = AudioFormat.sniff(bytes[...])
    check(sniffed == AudioFormat.sniff(([0xAA, 0xBB] + bytes)[2...]), "sniffing a shifted slice differs")
    if let sniffed { check(AudioFormat.contentTypes[sniffed] != nil, "sniffed unknown format \(sniffed)") }
    // The input as a file name too: the extension fallback of detect.
    let name = String(decoding: bytes.prefix(64), as: UTF8.self)
    if let format = try? AudioFormat.detect([][...], filename: name) {
        check(AudioFormat.contentTypes[format] != nil, "detected unknown format \(format) from \(name)")
    }
}
