// A streaming scanner for the XMPP client streams the load generator reads (RFC 6120): it cuts the bytes of
// a stream into the stream header and its top-level elements (stanzas, features, SASL answers) as they arrive, and
// parses each complete element into a small tree.
//
// Hand-written because no streaming XML parser is available to us: the allowed packages offer XMLCoder and
// SWXMLHash, which parse a whole document (an XMPP stream is one document that stays open for the connection's
// life), and Foundation's XMLParser is not in swift-corelibs-foundation's FoundationEssentials. The subset is what
// XMPP allows on a stream: no DTD, no entity declarations, no processing instructions after the XML declaration
// (RFC 6120 section 11.1); comments and CDATA sections are skipped and kept, for safety.

/// One XML element of an XMPP stream: its qualified name, attributes, children and character data.
public struct XMPPElement: Sendable, Equatable {
    /// The qualified name as written (`message`, `stream:features`).
    public var name: String
    /// The attributes in document order, values with their entities decoded.
    public var attributes: [(name: String, value: String)]
    /// The child elements in document order.
    public var children: [XMPPElement]
    /// The character data directly inside this element (all of its text pieces, concatenated), decoded.
    public var text: String

    /// An element; used by the parser and by tests.
    public init(name: String, attributes: [(name: String, value: String)] = [], children: [XMPPElement] = [],
                text: String = "") {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    /// The value of attribute `name`, if present.
    public subscript(attribute name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }

    /// The first child element named `name`, if any.
    public func child(_ name: String) -> XMPPElement? {
        children.first { $0.name == name }
    }

    /// Elements are equal when names, attributes (in order), children and text are.
    public static func == (a: XMPPElement, b: XMPPElement) -> Bool {
        a.name == b.name && a.text == b.text && a.children == b.children
            && a.attributes.count == b.attributes.count
            && zip(a.attributes, b.attributes).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// What the scanner found in the bytes fed so far.
public enum XMPPStreamEvent: Sendable, Equatable {
    /// A `<stream:stream>` header (the first, or a restart after SASL): the element without children.
    case streamOpened(XMPPElement)
    /// A complete top-level element of the stream.
    case element(XMPPElement)
    /// `</stream:stream>`: the peer closed its stream.
    case streamClosed
}

/// Bytes that are not a well-formed XMPP stream, with the offset (in the stream) where that was noticed.
public struct XMPPScanError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public var message: String
    /// The byte offset in the whole stream.
    public var offset: Int

    /// An error at `offset`.
    public init(_ message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// `XMPP stream, byte N: message`.
    public var description: String { "XMPP stream, byte \(offset): \(message)" }
}

/// Cuts an XMPP stream into its header and top-level elements, incrementally: feed bytes as they arrive, in pieces
/// of any size, and collect the events completed so far. Bytes already scanned are not scanned again.
///
/// ```swift
/// var scanner = XMPPStreamScanner()
/// for event in try scanner.feed(Array("<stream:stream xmlns='jabber:client'><message><body>hi".utf8)) { … }
/// ```
public struct XMPPStreamScanner: Sendable {
    private enum State: Sendable {
        /// Outside any markup (character data or between elements).
        case text
        /// Just after `<`.
        case open
        /// Inside a start or end tag; `quote` is the delimiter of the attribute value being read, if any.
        case tag(end: Bool, quote: UInt8?)
        /// Inside `<?…?>`, `<!--…-->` or `<![CDATA[…]]>`, until the terminator.
        case skip(terminator: [UInt8])
        /// After `<!`, deciding between a comment and CDATA.
        case bang
    }

    /// The largest element (or header) held while incomplete; a bigger one is an error, not unbounded memory.
    public let maximumElementSize: Int
    private var buffer: [UInt8] = []
    /// Where scanning resumes in `buffer`.
    private var position = 0
    /// Bytes dropped from the front of `buffer` so far (for error offsets).
    private var consumed = 0
    private var state = State.text
    /// Open elements: 0 before the header, 1 inside the stream, 2 or more inside a top-level element.
    private var depth = 0
    /// Where the current tag's `<` is in `buffer`.
    private var tagStart = 0
    /// Where the current top-level element starts in `buffer`.
    private var elementStart = 0

    /// A scanner at the start of a stream.
    public init(maximumElementSize: Int = 1 << 20) {
        self.maximumElementSize = maximumElementSize
    }

    /// Appends `bytes` to the stream and returns the events they complete, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(XMPPScanError) -> [XMPPStreamEvent] {
        buffer.append(contentsOf: bytes)
        var events: [XMPPStreamEvent] = []
        var keepFrom = depth >= 2 ? elementStart : (isInMarkup ? tagStart : position)
        while position < buffer.count {
            let byte = buffer[position]
            switch state {
            case .text:
                if byte == UInt8(ascii: "<") {
                    tagStart = position
                    state = .open
                } else if depth == 0, !Self.isSpace(byte) {
                    throw XMPPScanError("character data before the stream header", offset: consumed + position)
                }
            case .open:
                switch byte {
                case UInt8(ascii: "?"): state = .skip(terminator: Array("?>".utf8))
                case UInt8(ascii: "!"): state = .bang
                case UInt8(ascii: "/"): state = .tag(end: true, quote: nil)
                default: state = .tag(end: false, quote: nil)
                }
            case .bang:
                // `<!-` starts a comment, `<![` CDATA; anything else (a DTD) XMPP forbids.
                if byte == UInt8(ascii: "-") {
                    state = .skip(terminator: Array("-->".utf8))
                } else if byte == UInt8(ascii: "[") {
                    state = .skip(terminator: Array("]]>".utf8))
                } else {
                    throw XMPPScanError("a document type declaration is not allowed", offset: consumed + position)
                }
            case .skip(let terminator):
                if position + 1 >= tagStart + 2 + terminator.count,
                   buffer[(position + 1 - terminator.count)...position].elementsEqual(terminator) {
                    state = .text
                }
            case .tag(let end, let quote):
                if let quote {
                    if byte == quote { state = .tag(end: end, quote: nil) }
                } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                    state = .tag(end: end, quote: byte)
                } else if byte == UInt8(ascii: ">") {
                    state = .text
                    if let event = try tagClosed(end: end, selfClosing: buffer[position - 1] == UInt8(ascii: "/")) {
                        events.append(event)
                    }
                }
            }
            position += 1
            keepFrom = depth >= 2 ? elementStart : (isInMarkup ? tagStart : position)
        }
        if keepFrom > 0 {
            buffer.removeFirst(keepFrom)
            consumed += keepFrom
            position -= keepFrom
            tagStart -= keepFrom
            elementStart -= keepFrom
        }
        if buffer.count > maximumElementSize {
            throw XMPPScanError("an element longer than \(maximumElementSize) bytes", offset: consumed + position)
        }
        return events
    }

    private var isInMarkup: Bool {
        if case .text = state { return false }
        return true
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    /// Handles the `>` at `position` that ends the tag starting at `tagStart`.
    private mutating func tagClosed(end: Bool, selfClosing: Bool) throws(XMPPScanError) -> XMPPStreamEvent? {
        let tag = buffer[tagStart...position]
        if end {
            if depth <= 1 {
                guard Self.name(of: tag, end: true) == "stream:stream" else {
                    throw XMPPScanError("an end tag without its start tag", offset: consumed + tagStart)
                }
                depth = 0
                return .streamClosed
            }
            depth -= 1
            if depth == 1 { return .element(try parseElement(buffer[elementStart...position])) }
            return nil
        }
        let isStreamHeader = depth <= 1 && Self.name(of: tag, end: false) == "stream:stream"
        if isStreamHeader {
            // The header stays open for the whole stream: parse it as an empty element.
            var header = Array(tag)
            header.insert(UInt8(ascii: "/"), at: header.count - 1)
            depth = 1
            return .streamOpened(try parseElement(header[...], baseOffset: consumed + tagStart))
        }
        if depth == 0 {
            throw XMPPScanError("the stream must start with <stream:stream>", offset: consumed + tagStart)
        }
        if depth == 1 { elementStart = tagStart }
        if selfClosing {
            return depth == 1 ? .element(try parseElement(buffer[elementStart...position])) : nil
        }
        depth += 1
        return nil
    }

    /// The element name of a tag's bytes (`<name …>` or `</name>`).
    private static func name(of tag: ArraySlice<UInt8>, end: Bool) -> String {
        var i = tag.startIndex + (end ? 2 : 1)
        let start = i
        while i < tag.endIndex, !isSpace(tag[i]), tag[i] != UInt8(ascii: ">"), tag[i] != UInt8(ascii: "/") { i += 1 }
        return String(decoding: tag[start..<i], as: UTF8.self)
    }

    private func parseElement(_ bytes: ArraySlice<UInt8>, baseOffset: Int? = nil) throws(XMPPScanError) -> XMPPElement {
        var parser = ElementParser(bytes: bytes, baseOffset: baseOffset ?? consumed + bytes.startIndex)
        return try parser.parse()
    }
}

/// Parses the bytes of one complete element (the scanner has found where it ends) into an `XMPPElement`.
struct ElementParser {
    let bytes: ArraySlice<UInt8>
    let baseOffset: Int
    var i: Int

    init(bytes: ArraySlice<UInt8>, baseOffset: Int) {
        self.bytes = bytes
        self.baseOffset = baseOffset
        self.i = bytes.startIndex
    }

    func fail(_ message: String, at index: Int? = nil) -> XMPPScanError {
        XMPPScanError(message, offset: baseOffset + ((index ?? i) - bytes.startIndex))
    }

    mutating func parse() throws(XMPPScanError) -> XMPPElement {
        let element = try parseElement()
        skipSpace()
        guard i == bytes.endIndex else { throw fail("bytes after the element") }
        return element
    }

    var peek: UInt8? { i < bytes.endIndex ? bytes[i] : nil }

    mutating func skipSpace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(XMPPScanError) {
        guard peek == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        i += 1
    }

    mutating func parseName() throws(XMPPScanError) -> String {
        let start = i
        while let b = peek, !(b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D), b != UInt8(ascii: ">"),
              b != UInt8(ascii: "/"), b != UInt8(ascii: "="), b != UInt8(ascii: "<"), b != UInt8(ascii: "'"),
              b != UInt8(ascii: "\"") { i += 1 }
        guard i > start else { throw fail("expected a name") }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// At `<`: an element with its content and end tag.
    mutating func parseElement() throws(XMPPScanError) -> XMPPElement {
        try expect(UInt8(ascii: "<"))
        var element = XMPPElement(name: try parseName())
        while true {
            skipSpace()
            guard let b = peek else { throw fail("unterminated start tag") }
            if b == UInt8(ascii: "/") {
                i += 1
                try expect(UInt8(ascii: ">"))
                return element
            }
            if b == UInt8(ascii: ">") {
                i += 1
                break
            }
            let nameStart = i
            let name = try parseName()
            skipSpace()
            try expect(UInt8(ascii: "="))
            skipSpace()
            guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw fail("attribute \(name): expected a quoted value")
            }
            i += 1
            let start = i
            while let c = peek, c != quote {
                if c == UInt8(ascii: "<") { throw fail("attribute \(name): '<' in a value") }
                i += 1
            }
            guard peek == quote else { throw fail("attribute \(name): unterminated value") }
            let value = try decode(bytes[start..<i], at: start)
            i += 1
            if element.attributes.contains(where: { $0.name == name }) {
                throw fail("attribute \(name) twice", at: nameStart)
            }
            element.attributes.append((name, value))
        }
        // Content: text, children, comments, CDATA, then the end tag.
        var text = ""
        while true {
            let start = i
            while let c = peek, c != UInt8(ascii: "<") { i += 1 }
            if i > start { text += try decode(bytes[start..<i], at: start) }
            guard peek != nil else { throw fail("element \(element.name) is not closed") }
            if hasPrefix("</") {
                let tagStart = i
                i += 2
                let name = try parseName()
                guard name == element.name else { throw fail("</\(name)> closes <\(element.name)>", at: tagStart) }
                skipSpace()
                try expect(UInt8(ascii: ">"))
                element.text = text
                return element
            } else if hasPrefix("<!--") {
                try skip(past: "-->")
            } else if hasPrefix("<![CDATA[") {
                i += 9
                let start = i
                try skip(past: "]]>")
                text += String(decoding: bytes[start..<(i - 3)], as: UTF8.self)
            } else if hasPrefix("<?") || hasPrefix("<!") {
                throw fail("markup not allowed in an XMPP stream")
            } else {
                element.children.append(try parseElement())
            }
        }
    }

    func hasPrefix(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard bytes.endIndex - i >= n else { return false }
        return s.withUTF8Buffer { bytes[i..<(i + n)].elementsEqual($0) }
    }

    mutating func skip(past terminator: StaticString) throws(XMPPScanError) {
        while i < bytes.endIndex {
            if hasPrefix(terminator) {
                i += terminator.utf8CodeUnitCount
                return
            }
            i += 1
        }
        throw fail("unterminated comment or CDATA")
    }

    /// Character data or an attribute value with its five predefined entities and character references decoded.
    func decode(_ raw: ArraySlice<UInt8>, at start: Int) throws(XMPPScanError) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var j = raw.startIndex
        while j < raw.endIndex {
            let c = raw[j]
            guard c == UInt8(ascii: "&") else {
                out.append(c)
                j += 1
                continue
            }
            guard let semicolon = raw[j...].firstIndex(of: UInt8(ascii: ";")), semicolon - j <= 10 else {
                throw XMPPScanError("'&' without an entity", offset: baseOffset + (j - bytes.startIndex))
            }
            let entity = String(decoding: raw[(j + 1)..<semicolon], as: UTF8.self)
            switch entity {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                var digits = Substring(entity)
                var radix = 10
                guard digits.first == "#" else {
                    throw XMPPScanError("unknown entity &\(entity);", offset: baseOffset + (j - bytes.startIndex))
                }
                digits = digits.dropFirst()
                if digits.first == "x" {
                    radix = 16
                    digits = digits.dropFirst()
                }
                guard let value = UInt32(digits, radix: radix), let scalar = Unicode.Scalar(value), value != 0 else {
                    throw XMPPScanError("bad character reference &\(entity);",
                                        offset: baseOffset + (j - bytes.startIndex))
                }
                out.append(contentsOf: String(Character(scalar)).utf8)
            }
            j = semicolon + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension XMPPElement: CustomStringConvertible {
    /// The element serialized back to XML (attribute values with `'` quotes), for messages and tests.
    public var description: String {
        var s = "<" + name
        for a in attributes { s += " \(a.name)='\(XMPPElement.escape(a.value))'" }
        if children.isEmpty, text.isEmpty { return s + "/>" }
        s += ">" + XMPPElement.escape(text)
        for c in children { s += c.description }
        return s + "</\(name)>"
    }

    /// `text` with `&`, `<`, `>`, `'` and `"` escaped, safe in character data and in either kind of attribute value.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
