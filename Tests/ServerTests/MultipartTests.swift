import Foundation
import Server
import Testing

/// The multipart/form-data parser on its own: boundaries, headers, binary content, damaged bodies.
@Suite struct MultipartTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func parse(_ body: [UInt8], boundary: String = "XyZ") throws(MultipartError) -> MultipartFormData {
        try MultipartFormData(body: body, boundary: boundary)
    }

    // MARK: Boundary

    @Test("the boundary comes from Content-Type, quoted or not, in any case", arguments: [
        ("multipart/form-data; boundary=abc123", "abc123"),
        ("multipart/form-data;boundary=abc123", "abc123"),
        ("Multipart/Form-Data; BOUNDARY=abc123", "abc123"),
        ("multipart/form-data; charset=utf-8; boundary=\"a b:c\"", "a b:c"),
        ("multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\"", "----WebKitFormBoundary7MA4YWxkTrZu0gW"),
        ("multipart/form-data; boundary=----=_Part_0_1234.5678 ", "----=_Part_0_1234.5678"),
    ])
    func boundary(contentType: String, expected: String) throws {
        #expect(try MultipartFormData.boundary(contentType: contentType) == expected)
    }

    @Test("a missing or wrong Content-Type or boundary is named", arguments: [
        (nil, "Content-Type: missing; expected multipart/form-data with a boundary"),
        ("", "Content-Type: missing; expected multipart/form-data with a boundary"),
        ("application/json", "Content-Type: expected multipart/form-data, got 'application/json'"),
        ("multipart/mixed; boundary=x", "Content-Type: expected multipart/form-data, got 'multipart/mixed'"),
        ("multipart/form-data", "Content-Type: multipart/form-data without a boundary parameter"),
        ("multipart/form-data; charset=utf-8", "Content-Type: multipart/form-data without a boundary parameter"),
        ("multipart/form-data; boundary=", "Content-Type: the boundary must be 1 to 70 characters, got 0"),
        ("multipart/form-data; boundary=\"\"", "Content-Type: the boundary must be 1 to 70 characters, got 0"),
        ("multipart/form-data; boundary=" + String(repeating: "a", count: 71),
         "Content-Type: the boundary must be 1 to 70 characters, got 71"),
    ] as [(String?, String)])
    func badBoundary(contentType: String?, message: String) {
        #expect(throws: MultipartError(message)) { try MultipartFormData.boundary(contentType: contentType) }
    }

    // MARK: Parts

    @Test("several parts: fields and files, names, file names and content types")
    func severalParts() throws {
        let body = Self.bytes(
            "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a.png\"\r\n"
                + "Content-Type: image/png\r\n\r\nPNGDATA\r\n"
                + "--XyZ\r\ncontent-disposition: FORM-DATA; filename=\"b.txt\"; name=other\r\n\r\n\r\n"
                + "--XyZ--\r\n")
        let form = try Self.parse(body)
        #expect(form.parts.map(\.name) == ["title", "filename", "other"])
        #expect(form.parts.map(\.filename) == [nil, "a.png", "b.txt"])
        #expect(form.parts.map(\.contentType) == [nil, "image/png", nil])
        #expect(form.parts.map { Array($0.body) } == [Self.bytes("Hello"), Self.bytes("PNGDATA"), []])
        #expect(form.parts(named: "filename").count == 1)
        #expect(form.parts[1].headers == [
            .init(name: "Content-Disposition", value: "form-data; name=\"filename\"; filename=\"a.png\""),
            .init(name: "Content-Type", value: "image/png"),
        ])
    }

    @Test("binary content with CRLF, '--', a boundary-like prefix and every byte value comes through untouched")
    func binaryContent() throws {
        var content: [UInt8] = (0...255).map { UInt8($0) }
        content += Self.bytes("\r\n--\r\n--XyZabc\r\n--XyZ-x\r\n\r\n--Xy")  // not delimiters: not followed by -- or CRLF
        content += [0x0D, 0x0A, 0x0D]
        var body = Self.bytes("--XyZ\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"bin\"\r\n\r\n")
        body += content
        body += Self.bytes("\r\n--XyZ--")
        let form = try Self.parse(body)
        #expect(form.parts.count == 1)
        #expect(Array(form.parts[0].body) == content)
    }

    @Test("a preamble before the first boundary and an epilogue after the last are ignored")
    func preambleAndEpilogue() throws {
        let body = Self.bytes(
            "This is the preamble.\r\nIt has --XyZ-like text.\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                + "--XyZ--\r\nThis is the epilogue.\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n")
        let form = try Self.parse(body)
        #expect(form.parts.map(\.name) == ["a"])
        #expect(Array(form.parts[0].body) == Self.bytes("1"))
    }

    @Test("transport padding after a boundary, folded headers and RFC 5987 file names")
    func paddingFoldingAndExtendedNames() throws {
        let body = Self.bytes(
            "--XyZ \t\r\nContent-Disposition: form-data;\r\n name=\"f\"; filename=\"fallback.txt\";\r\n"
                + "\tfilename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\n\r\nx\r\n--XyZ--")
        let form = try Self.parse(body)
        #expect(form.parts.first?.name == "f")
        #expect(form.parts.first?.filename == "naïve résumé.txt")
    }

    // Found by fuzz-multipart: a fold of white space alone, or a fold onto an empty value, added a space to the value
    // that the same header written out again and read back did not have.
    @Test("a folded line of white space alone, or onto an empty value, adds no space to the header's value")
    func blankFold() throws {
        let body = Self.bytes(
            "--XyZ\r\nContent-Type: text/plain;\r\n \t \r\nContent-Disposition: form-data;\r\n name=f\r\n \r\n"
                + "X-Empty:\r\n folded\r\n\r\nx\r\n--XyZ--")
        let form = try Self.parse(body)
        #expect(form.parts.first?.headers == [
            .init(name: "Content-Type", value: "text/plain;"),
            .init(name: "Content-Disposition", value: "form-data; name=f"),
            .init(name: "X-Empty", value: "folded"),
        ])
        #expect(form.parts.first?.name == "f")
    }

    @Test("quoted names may escape quotes; raw UTF-8 file names are read as UTF-8")
    func quotedNames() throws {
        let body = Self.bytes(
            "--XyZ\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"say \\\"hi\\\"; 语音.amr\"\r\n\r\n"
                + "x\r\n--XyZ--\r\n")
        let form = try Self.parse(body)
        #expect(form.parts.first?.filename == "say \"hi\"; 语音.amr")
    }

    @Test("a body that ends before its closing boundary is refused as truncated")
    func missingClosingBoundary() {
        let truncatedContent = Self.bytes("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\npartial data")
        #expect(throws: MultipartError("multipart body: missing closing boundary '--XyZ--' (truncated?)")) {
            try Self.parse(truncatedContent)
        }
        let endsAtDelimiter = Self.bytes("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ")
        #expect(throws: MultipartError("multipart body: missing closing boundary '--XyZ--' (truncated?)")) {
            try Self.parse(endsAtDelimiter)
        }
        let endsInHeaders = Self.bytes("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n")
        #expect(throws: MultipartError("multipart body: part 1: headers do not end with a blank line (truncated?)")) {
            try Self.parse(endsInHeaders)
        }
    }

    @Test("malformed bodies name their problem", arguments: [
        ("", "multipart body: no boundary '--XyZ' found"),
        ("hello world", "multipart body: no boundary '--XyZ' found"),
        ("--OTHER\r\n\r\nx\r\n--OTHER--", "multipart body: no boundary '--XyZ' found"),
        ("--XyZ--\r\n", "multipart body: no parts"),
        ("--XyZ\r\n\r\nx\r\n--XyZ--", "multipart body: part 1: missing Content-Disposition header"),
        ("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "multipart body: part 1: missing Content-Disposition header"),
        ("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--",
         "multipart body: part 1: Content-Disposition must be form-data, got 'attachment'"),
        ("--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n--XyZ--",
         "multipart body: part 1: Content-Disposition has no name"),
        ("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--XyZ--",
         "multipart body: part 1: Content-Disposition has no name"),
        ("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--", "multipart body: part 1: malformed header line 'no colon here'"),
        ("--XyZ\r\n: empty name\r\n\r\nx\r\n--XyZ--", "multipart body: part 1: malformed header line ': empty name'"),
        ("--XyZ\r\n continued\r\n\r\nx\r\n--XyZ--",
         "multipart body: part 1: header section starts with a continuation line"),
        ("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--",
         "multipart body: part 1: the boundary line does not end with CRLF"),
    ])
    func malformed(body: String, message: String) {
        #expect(throws: MultipartError(message)) { try Self.parse(Self.bytes(body)) }
    }

    @Test("the second part's number is named in its error")
    func errorNamesThePart() {
        let body = Self.bytes(
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nX-Other: 1\r\n\r\n2\r\n--XyZ--")
        #expect(throws: MultipartError("multipart body: part 2: missing Content-Disposition header")) {
            try Self.parse(body)
        }
    }

    @Test("limits: too many parts, headers too long")
    func limits() {
        var limits = MultipartFormData.Limits()
        limits.maxParts = 2
        let part = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
        #expect(throws: MultipartError("multipart body: more than 2 parts")) {
            try MultipartFormData(body: Self.bytes(part + part + part + "--XyZ--"), boundary: "XyZ", limits: limits)
        }
        limits = MultipartFormData.Limits()
        limits.maxHeaderBytes = 100
        let long = "--XyZ\r\nContent-Disposition: form-data; name=\"" + String(repeating: "a", count: 200) + "\"\r\n\r\n1\r\n--XyZ--"
        #expect(throws: MultipartError("multipart body: part 1: headers longer than 100 bytes")) {
            try MultipartFormData(body: Self.bytes(long), boundary: "XyZ", limits: limits)
        }
    }

    @Test("a large binary part is found intact, its slice pointing into the body")
    func largePart() throws {
        let content = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let body = Self.bytes("--XyZ\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"big\"\r\n\r\n")
            + content + Self.bytes("\r\n--XyZ--\r\n")
        let form = try Self.parse(body)
        #expect(form.parts.first?.body.count == content.count)
        #expect(form.parts.first.map { Array($0.body) == content } == true)
    }
}
