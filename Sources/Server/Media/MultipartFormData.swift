import Foundation

/// A `multipart/form-data` body (RFC 7578 over RFC 2046), parsed from bytes already in memory.
///
/// ```swift
/// let boundary = try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=xyz")
/// let form = try MultipartFormData(body: bytes, boundary: boundary)
/// let file = form.parts(named: "filename").first
/// ```
/// Delimiters must be `CRLF--boundary`; a part's body is everything between the blank line after its headers
/// and the next delimiter, so binary content with CRLF and `--` in it comes through untouched.
package struct MultipartFormData: Sendable {
    /// One part: its form field name, the file name a client gave, its Content-Type and its bytes.
    package struct Part: Sendable {
        /// The `name` parameter of Content-Disposition.
        package var name: String
        /// The `filename` (or RFC 5987 `filename*`) parameter, when the part is a file.
        package var filename: String?
        /// The part's Content-Type header, as sent.
        package var contentType: String?
        /// All headers of the part in order, names as sent.
        package var headers: [Header]
        /// The part's content (a slice of the whole body; indices are the body's).
        package var body: ArraySlice<UInt8>
    }

    /// A header line of a part.
    package struct Header: Sendable, Equatable {
        /// The header name as sent.
        package var name: String
        /// The value with surrounding white space removed.
        package var value: String

        /// Creates a header.
        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Bounds that keep a hostile body from costing more than its size.
    package struct Limits: Sendable {
        /// Most parts accepted in one body.
        package var maxParts: Int = 64
        /// Largest header section of one part, in bytes.
        package var maxHeaderBytes: Int = 16 * 1024
        /// Creates the default limits.
        package init() {}
    }

    /// The parts in the order they were sent.
    package var parts: [Part]

    /// The parts whose field name is `name`.
    package func parts(named name: String) -> [Part] {
        parts.filter { $0.name == name }
    }

    /// Reads the boundary from a Content-Type header of `multipart/form-data`, quoted or not.
    package static func boundary(contentType: String?) throws(MultipartError) -> String {
        guard let contentType, !contentType.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw MultipartError("Content-Type: missing; expected multipart/form-data with a boundary")
        }
        let (value, parameters) = HeaderValue.parse(contentType)
        guard value.lowercased() == "multipart/form-data" else {
            throw MultipartError("Content-Type: expected multipart/form-data, got '\(value)'")
        }
        guard let boundary = parameters.first(where: { $0.name.lowercased() == "boundary" })?.value else {
            throw MultipartError("Content-Type: multipart/form-data without a boundary parameter")
        }
        guard (1...70).contains(boundary.utf8.count) else {
            throw MultipartError("Content-Type: the boundary must be 1 to 70 characters, got \(boundary.utf8.count)")
        }
        guard boundary.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }), boundary.last != " " else {
            throw MultipartError("Content-Type: the boundary has characters RFC 2046 does not allow")
        }
        return boundary
    }

    /// Parses `body` split by `boundary`; throws naming the first problem (no opening or closing boundary,
    /// malformed headers, a part without Content-Disposition or name).
    package init(body: [UInt8], boundary: String, limits: Limits = Limits()) throws(MultipartError) {
        let delimiter = Array("--\(boundary)".utf8)
        let scanner = Scanner(body: body, delimiter: delimiter)
        var parts: [Part] = []
        guard var position = scanner.firstDelimiter() else {
            throw MultipartError("multipart body: no boundary '--\(boundary)' found")
        }
        while true {
            position += delimiter.count
            if scanner.hasPrefix([0x2D, 0x2D], at: position) {
                break  // the close delimiter; anything after it is the epilogue
            }
            position = scanner.skipPadding(from: position)
            guard scanner.hasPrefix(Scanner.crlf, at: position) else {
                if position >= body.count {
                    throw MultipartError("multipart body: missing closing boundary '--\(boundary)--' (truncated?)")
                }
                throw MultipartError("multipart body: part \(parts.count + 1): the boundary line does not end with CRLF")
            }
            position += 2
            guard parts.count < limits.maxParts else {
                throw MultipartError("multipart body: more than \(limits.maxParts) parts")
            }
            let number = parts.count + 1
            guard let headerEnd = scanner.find(Scanner.blankLine, from: position - 2,
                                               within: limits.maxHeaderBytes + 4) else {
                if body.count - position > limits.maxHeaderBytes {
                    throw MultipartError("multipart body: part \(number): headers longer than \(limits.maxHeaderBytes) bytes")
                }
                throw MultipartError("multipart body: part \(number): headers do not end with a blank line (truncated?)")
            }
            let headers = try Self.headers(body[position..<max(position, headerEnd)], part: number)
            let start = headerEnd + 4
            guard let end = scanner.nextDelimiter(from: start - 2) else {
                throw MultipartError("multipart body: missing closing boundary '--\(boundary)--' (truncated?)")
            }
            parts.append(try Self.part(headers: headers, body: body[start..<max(start, end)], number: number))
            position = end + 2
        }
        guard !parts.isEmpty else { throw MultipartError("multipart body: no parts") }
        self.parts = parts
    }

    static func headers(_ bytes: ArraySlice<UInt8>, part: Int) throws(MultipartError) -> [Header] {
        guard !bytes.isEmpty else { return [] }
        let text = String(validating: bytes, as: UTF8.self) ?? String(bytes.map { Character(Unicode.Scalar($0)) })
        var headers: [Header] = []
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if let first = line.first, first == " " || first == "\t" {
                guard !headers.isEmpty else {
                    throw MultipartError("multipart body: part \(part): header section starts with a continuation line")
                }
                // Folds join with one space; one of white space alone, or onto an empty value, adds no space (which
                // the same header written on one line and read again would not have).
                let more = line.trimmingCharacters(in: .whitespaces)
                let value = headers[headers.count - 1].value
                if !more.isEmpty { headers[headers.count - 1].value = value.isEmpty ? more : value + " " + more }
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[..<colon].allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\"" })
            else {
                throw MultipartError("multipart body: part \(part): malformed header line '\(line.prefix(80))'")
            }
            headers.append(Header(name: String(line[..<colon]),
                                  value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return headers
    }

    static func part(headers: [Header], body: ArraySlice<UInt8>, number: Int) throws(MultipartError) -> Part {
        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value
        }
        guard let disposition = header("content-disposition") else {
            throw MultipartError("multipart body: part \(number): missing Content-Disposition header")
        }
        let (kind, parameters) = HeaderValue.parse(disposition)
        guard kind.lowercased() == "form-data" else {
            throw MultipartError("multipart body: part \(number): Content-Disposition must be form-data, got '\(kind)'")
        }
        func parameter(_ name: String) -> String? {
            parameters.first { $0.name.lowercased() == name }?.value
        }
        guard let name = parameter("name"), !name.isEmpty else {
            throw MultipartError("multipart body: part \(number): Content-Disposition has no name")
        }
        let filename = parameter("filename*").flatMap(HeaderValue.decodeExtended) ?? parameter("filename")
        return Part(name: name, filename: filename, contentType: header("content-type"), headers: headers, body: body)
    }
}

/// Why a multipart body or its Content-Type was refused; the API answers it as 899003.
package struct MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the header, the part or the boundary.
    package var description: String

    /// Creates an error with its reason.
    package init(_ description: String) {
        self.description = description
    }
}

/// Byte searches over the body.
private struct Scanner {
    static let crlf: [UInt8] = [0x0D, 0x0A]
    static let blankLine: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]

    let body: [UInt8]
    let delimiter: [UInt8]
    let crlfDelimiter: [UInt8]

    init(body: [UInt8], delimiter: [UInt8]) {
        self.body = body
        self.delimiter = delimiter
        self.crlfDelimiter = Self.crlf + delimiter
    }

    func hasPrefix(_ prefix: [UInt8], at position: Int) -> Bool {
        position + prefix.count <= body.count && body[position..<position + prefix.count].elementsEqual(prefix)
    }

    /// Spaces and tabs after a boundary (RFC 2046 transport padding).
    func skipPadding(from position: Int) -> Int {
        var p = position
        while p < body.count, body[p] == 0x20 || body[p] == 0x09 { p += 1 }
        return p
    }

    /// Where a delimiter line really ends a part: followed by `--`, or by padding and CRLF.
    func isDelimiterEnd(_ position: Int) -> Bool {
        if hasPrefix([0x2D, 0x2D], at: position) { return true }
        let p = skipPadding(from: position)
        return hasPrefix(Self.crlf, at: p) || p == body.count
    }

    /// The first delimiter: at the very start, or after the preamble's CRLF.
    func firstDelimiter() -> Int? {
        if hasPrefix(delimiter, at: 0) { return 0 }
        return nextDelimiter(from: 0).map { $0 + 2 }
    }

    /// The position of the next `CRLF--boundary` that ends a part.
    func nextDelimiter(from start: Int) -> Int? {
        var from = start
        while let found = find(crlfDelimiter, from: from) {
            if isDelimiterEnd(found + crlfDelimiter.count) { return found }
            from = found + 1
        }
        return nil
    }

    /// The position of `needle` at or after `start`, looking at most `within` bytes when given.
    func find(_ needle: [UInt8], from start: Int, within: Int? = nil) -> Int? {
        guard let first = needle.first, start >= 0 else { return nil }
        let limit = within.map { min(body.count, start + $0) } ?? body.count
        return body.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            var p = start
            while p + needle.count <= limit {
                guard let hit = memchr(base + p, Int32(first), limit - p) else { return nil }
                let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if index + needle.count > limit { return nil }
                if memcmp(base + index, needle, needle.count) == 0 { return index }
                p = index + 1
            }
            return nil
        }
    }
}

/// A header value with `;`-separated parameters, as Content-Type and Content-Disposition have.
enum HeaderValue {
    /// Splits `value; a=b; c="d"` into the value and its parameters; quoted strings may escape `"` and `\`.
    static func parse(_ text: String) -> (value: String, parameters: [(name: String, value: String)]) {
        var scalars = Substring(text).unicodeScalars[...]
        var value = ""
        while let c = scalars.first, c != ";" {
            value.unicodeScalars.append(c)
            scalars.removeFirst()
        }
        var parameters: [(name: String, value: String)] = []
        while scalars.first == ";" {
            scalars.removeFirst()
            var name = ""
            while let c = scalars.first, c != "=", c != ";" {
                name.unicodeScalars.append(c)
                scalars.removeFirst()
            }
            var parameterValue = ""
            if scalars.first == "=" {
                scalars.removeFirst()
                while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() }
                if scalars.first == "\"" {
                    scalars.removeFirst()
                    while let c = scalars.first, c != "\"" {
                        scalars.removeFirst()
                        if c == "\\", let next = scalars.first, next == "\"" || next == "\\" {
                            parameterValue.unicodeScalars.append(next)
                            scalars.removeFirst()
                        } else {
                            parameterValue.unicodeScalars.append(c)
                        }
                    }
                    if !scalars.isEmpty { scalars.removeFirst() }
                    while let c = scalars.first, c != ";" { scalars.removeFirst() }
                } else {
                    while let c = scalars.first, c != ";" {
                        parameterValue.unicodeScalars.append(c)
                        scalars.removeFirst()
                    }
                    parameterValue = parameterValue.trimmingCharacters(in: .whitespaces)
                }
            }
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { parameters.append((trimmed, parameterValue)) }
        }
        return (value.trimmingCharacters(in: .whitespaces), parameters)
    }

    /// Decodes an RFC 5987 extended value such as `UTF-8''na%C3%AFve.txt`; nil when malformed or not UTF-8.
    static func decodeExtended(_ text: String) -> String? {
        let pieces = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return String(pieces[2]).removingPercentEncoding
    }
}
