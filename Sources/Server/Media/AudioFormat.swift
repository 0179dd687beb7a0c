/// Recognizes voice uploads by their first bytes, falling back to the file name's extension.
package enum AudioFormat {
    /// The formats a voice upload may have, with the Content-Type the download is served with.
    package static let contentTypes: [String: String] = [
        "mp3": "audio/mpeg", "amr": "audio/amr", "wav": "audio/wav", "m4a": "audio/mp4", "aac": "audio/aac",
        "ogg": "audio/ogg", "opus": "audio/opus", "flac": "audio/flac", "silk": "audio/silk",
    ]

    /// The format of `bytes`: sniffed from the content when it has a known signature, else the extension of
    /// `filename` when that is a known audio format; throws when neither says.
    package static func detect(_ bytes: ArraySlice<UInt8>, filename: String?) throws(MediaError) -> String {
        if let sniffed = sniff(bytes) { return sniffed }
        if let ext = filename.flatMap(MediaID.fileExtension), contentTypes[ext] != nil { return ext }
        let known = contentTypes.keys.sorted().joined(separator: ", ")
        throw MediaError("not a recognized voice file; expected one of \(known) (by content or file extension)")
    }

    /// The format told by the content's signature, if any.
    package static func sniff(_ bytes: ArraySlice<UInt8>) -> String? {
        let b = Bytes(bytes)
        func ascii(_ text: String, at offset: Int = 0) -> Bool { b.matches(Array(text.utf8), at: offset) }
        if ascii("#!AMR") { return "amr" }
        if ascii("#!SILK_V3") || ascii("#!SILK_V3", at: 1) { return "silk" }
        if ascii("RIFF"), ascii("WAVE", at: 8) { return "wav" }
        if ascii("ftyp", at: 4) { return "m4a" }
        if ascii("OggS") { return ascii("OpusHead", at: 28) ? "opus" : "ogg" }
        if ascii("fLaC") { return "flac" }
        if ascii("ID3") { return "mp3" }
        if let b0 = b.byte(0), let b1 = b.byte(1), b0 == 0xFF, b1 & 0xE0 == 0xE0 {
            switch (b1 >> 1) & 0x03 {
            case 0: return b1 & 0x10 != 0 ? "aac" : nil  // ADTS: MPEG layer bits 00
            case 1, 2, 3: return "mp3"  // MPEG audio layer III, II or I frame
            default: return nil
            }
        }
        return nil
    }
}
