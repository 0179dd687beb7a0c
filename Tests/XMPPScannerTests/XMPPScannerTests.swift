import Testing
import XMPPScanner

@Suite("XMPPStreamScanner")
struct XMPPScannerTests {
    /// What ejabberd 23.01 wrote to the generator in one login and one message (captured on loopback), plus the
    /// stream's end: the header, features, a stanza whose attribute holds `>` and `/`, a self-closing element, an
    /// escaped body, a restarted stream with its own XML declaration.
    static let stream = """
        <?xml version='1.0'?><stream:stream id='9692286635009547852' version='1.0' xml:lang='en' \
        xmlns:stream='http://etherx.jabber.org/streams' from='localhost' xmlns='jabber:client'>\
        <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
        </mechanisms><register xmlns='http://jabber.org/features/iq-register'/></stream:features>
        <iq xml:lang='en' from='localhost' type="result" id='a>/b'/>\
        <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
        <?xml version='1.0'?><stream:stream id='2' version='1.0' from='localhost' xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams'>\
        <message xml:lang='en' to='alice@localhost' from='bob@localhost/bench' type='chat' id='m1'>\
        <body>bench#1 &amp; &lt;x&gt; &#233;&#x1F426; "q" &apos;</body><!-- a comment --><x><![CDATA[<raw>]]></x>\
        </message> </stream:stream>
        """

    static let expected: [XMPPStreamEvent] = [
        .streamOpened(XMPPElement(name: "stream:stream", attributes: [
            ("id", "9692286635009547852"), ("version", "1.0"), ("xml:lang", "en"),
            ("xmlns:stream", "http://etherx.jabber.org/streams"), ("from", "localhost"), ("xmlns", "jabber:client"),
        ])),
        .element(XMPPElement(name: "stream:features", children: [
            XMPPElement(name: "mechanisms", attributes: [("xmlns", "urn:ietf:params:xml:ns:xmpp-sasl")],
                        children: [XMPPElement(name: "mechanism", text: "PLAIN")]),
            XMPPElement(name: "register", attributes: [("xmlns", "http://jabber.org/features/iq-register")]),
        ])),
        .element(XMPPElement(name: "iq", attributes: [
            ("xml:lang", "en"), ("from", "localhost"), ("type", "result"), ("id", "a>/b"),
        ])),
        .element(XMPPElement(name: "success", attributes: [("xmlns", "urn:ietf:params:xml:ns:xmpp-sasl")])),
        .streamOpened(XMPPElement(name: "stream:stream", attributes: [
            ("id", "2"), ("version", "1.0"), ("from", "localhost"), ("xmlns", "jabber:client"),
            ("xmlns:stream", "http://etherx.jabber.org/streams"),
        ])),
        .element(XMPPElement(name: "message", attributes: [
            ("xml:lang", "en"), ("to", "alice@localhost"), ("from", "bob@localhost/bench"), ("type", "chat"),
            ("id", "m1"),
        ], children: [
            XMPPElement(name: "body", text: "bench#1 & <x> é🐦 \"q\" '"),
            XMPPElement(name: "x", text: "<raw>"),
        ])),
        .streamClosed,
    ]

    @Test("the whole stream at once")
    func wholeStream() throws {
        var scanner = XMPPStreamScanner()
        #expect(try scanner.feed(Array(Self.stream.utf8)) == Self.expected)
    }

    @Test("the same events for every way of cutting the bytes", arguments: [1, 2, 3, 7, 64])
    func anyPieces(size: Int) throws {
        let bytes = Array(Self.stream.utf8)
        var scanner = XMPPStreamScanner()
        var events: [XMPPStreamEvent] = []
        for start in stride(from: 0, to: bytes.count, by: size) {
            events += try scanner.feed(bytes[start..<min(start + size, bytes.count)])
        }
        #expect(events == Self.expected)
    }

    @Test("an element is reported only once it is complete")
    func incomplete() throws {
        var scanner = XMPPStreamScanner()
        #expect(try scanner.feed(Array("<stream:stream xmlns='jabber:client'><message to='a'><body>hi".utf8))
                .count == 1)
        #expect(try scanner.feed(Array("</body></message".utf8)) == [])
        let events = try scanner.feed(Array(">".utf8))
        #expect(events == [.element(XMPPElement(name: "message", attributes: [("to", "a")],
                                                children: [XMPPElement(name: "body", text: "hi")]))])
    }

    @Test("bad streams are refused with the offset", arguments: [
        ("hello", "character data before the stream header", 0),
        ("<message/>", "the stream must start with <stream:stream>", 0),
        ("<stream:stream><a></b>", "</b> closes <a>", 18),
        ("<stream:stream><a x='1' x='2'/>", "attribute x twice", 24),
        ("<stream:stream><a>&nbsp;</a>", "unknown entity &nbsp;", 18),
        ("<stream:stream><a>&#0;</a>", "bad character reference &#0;", 18),
        ("<stream:stream></a>", "an end tag without its start tag", 15),
        ("<stream:stream><!DOCTYPE x>", "a document type declaration is not allowed", 17),
    ])
    func refused(input: String, message: String, offset: Int) {
        var scanner = XMPPStreamScanner()
        #expect(throws: XMPPScanError(message, offset: offset)) { try scanner.feed(Array(input.utf8)) }
    }

    @Test("an element larger than the limit is an error, not unbounded memory")
    func limit() throws {
        var scanner = XMPPStreamScanner(maximumElementSize: 100)
        _ = try scanner.feed(Array("<stream:stream><message><body>".utf8))
        #expect(throws: XMPPScanError.self) { try scanner.feed([UInt8](repeating: UInt8(ascii: "a"), count: 200)) }
    }

    @Test("escape and description round-trip through the scanner")
    func roundTrip() throws {
        let message = XMPPElement(name: "message", attributes: [("to", "a'b\"c@x")], children: [
            XMPPElement(name: "body", text: "<&>'\" 中文"),
        ])
        var scanner = XMPPStreamScanner()
        let events = try scanner.feed(Array("<stream:stream>\(message)".utf8))
        #expect(events.last == .element(message))
    }
}
