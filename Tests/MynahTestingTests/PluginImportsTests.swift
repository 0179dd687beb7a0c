import Foundation
import Testing

/// Every Swift plugin under Plugins/ is written against BotKit alone (which re-exports the wire types and the
/// logger), as a plugin of another package would be: its only other import may be Foundation.
@Test func builtInPluginsImportOnlyBotKit() throws {
    let plugins = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Plugins")
    let files = try #require(FileManager.default.enumerator(atPath: plugins.path)).compactMap { $0 as? String }
        .filter { $0.hasSuffix(".swift") }
    #expect(files.count >= 4)
    for file in files {
        let text = try String(contentsOf: plugins.appendingPathComponent(file), encoding: .utf8)
        let imports = text.split(separator: "\n").filter { $0.hasPrefix("import ") || $0.hasPrefix("@testable import ") }
            .map { String($0.split(separator: " ").last ?? "") }
        #expect(imports.contains("BotKit"), "\(file) does not import BotKit")
        #expect(Set(imports).subtracting(["BotKit", "Foundation"]).isEmpty, "\(file) imports \(imports)")
    }
}
