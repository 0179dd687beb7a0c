import Foundation
import Testing

/// docs/testing.md shows TeaTimeExampleTests.swift whole: the example in the guide is the one that passes here.
@Test func theTestingGuideShowsTheExampleTestAsItIs() throws {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let root = here.deletingLastPathComponent().deletingLastPathComponent()
    let example = try String(contentsOf: here.appendingPathComponent("TeaTimeExampleTests.swift"), encoding: .utf8)
    let guide = try String(contentsOf: root.appendingPathComponent("docs/testing.md"), encoding: .utf8)
    let marker = "<!-- example: Tests/MynahTestingTests/TeaTimeExampleTests.swift -->\n```swift\n"
    let start = try #require(guide.range(of: marker), "docs/testing.md lacks the example's marker")
    let end = try #require(guide.range(of: "\n```", range: start.upperBound..<guide.endIndex))
    let shown = String(guide[start.upperBound..<end.lowerBound]) + "\n"
    #expect(shown == example, "docs/testing.md's example differs from Tests/MynahTestingTests/TeaTimeExampleTests.swift")
}
