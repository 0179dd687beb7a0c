@testable import BotKit
import Testing

/// The JSON lines reader of external plugins: lines of any length and number, each byte copied at most once.
@Suite struct LineSplitterTests {
    static func split(_ chunks: [[UInt8]], max: Int = 1 << 20) -> (lines: [LineSplitter.Line], copied: Int) {
        var splitter = LineSplitter(maxLineBytes: max)
        var lines: [LineSplitter.Line] = []
        for chunk in chunks { splitter.feed(chunk) { lines.append($0) } }
        splitter.finish { lines.append($0) }
        return (lines, splitter.bytesCopied)
    }

    @Test func manyLinesInOneReadAreSplitWithoutCopying() {
        let lines = (0..<100_000).map { "line \($0)" }
        let (out, copied) = Self.split([Array((lines.joined(separator: "\n") + "\n").utf8)])
        #expect(out == lines.map(LineSplitter.Line.text))
        #expect(copied == 0)
    }

    @Test func aLongLineInManyReadsIsCopiedOnce() {
        let long = String(repeating: "abcdefgh", count: 640_000)        // 5 MB, under the limit
        let bytes = Array((long + "\nnext\n").utf8)
        let chunks = stride(from: 0, to: bytes.count, by: 4096).map { Array(bytes[$0..<min($0 + 4096, bytes.count)]) }
        let (out, copied) = Self.split(chunks, max: 12 << 20)
        #expect(out == [.text(long), .text("next")])
        #expect(copied == long.utf8.count)                               // each byte of it once: linear
    }

    @Test func aLineOverTheLimitIsReportedOnceAndSkippedToItsEnd() {
        let bytes = Array((String(repeating: "x", count: 3 << 20) + "\nok\n").utf8)
        let chunks = stride(from: 0, to: bytes.count, by: 65_536).map { Array(bytes[$0..<min($0 + 65_536, bytes.count)]) }
        let (out, copied) = Self.split(chunks, max: 1 << 20)
        #expect(out == [.overlong(prefix: String(repeating: "x", count: 200)), .text("ok")])
        #expect(copied <= 1 << 20)                                      // never more than the limit is kept
        let (single, _) = Self.split([bytes], max: 1 << 20)            // the same line in one read
        #expect(single == out)
    }

    @Test func crLfEndingsSplitReadsAndALastLineWithoutNewline() {
        let (out, _) = Self.split([Array("one\r\ntw".utf8), Array("o\n".utf8), Array("\nthree".utf8)])
        #expect(out == [.text("one"), .text("two"), .text(""), .text("three")])
    }
}
