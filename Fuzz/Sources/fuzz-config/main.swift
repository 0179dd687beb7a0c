// The bots.yaml reader: Yams composes the text, and the generic YAML walker of Sources/Mynah/Configuration (the one
// Mynah's schema is read with) walks every node with every typed accessor. Errors must be located inside the text;
// the document read as free-form JSON must serialize and parse back to the same value.
import FuzzSupport
import IMProtocol
import Yams
@testable import ConfigWalker

struct Walker: YAMLWalker {
    let fileName = "bots.yaml"
    let environment = ["PORT": "8080", "EMPTY": "", "NAME": "mynah"]
    let diagnostics = ConfigurationDiagnostics()
}

/// Equal, except that an integer and a double of exactly the same value count as equal: a whole YAML float
/// (`3684.0`) is a double that JSON writes as `3684`, read back as an integer (a finding of this target; by design).
func sameNumbers(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int(let i), .double(let d)), (.double(let d), .int(let i)): return Int64(exactly: d) == i
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(sameNumbers)
    case (.object(let x), .object(let y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameNumbers(value, $0) } ?? false }
    default: return a == b
    }
}

let keys = ["listen", "host", "port", "apps", "appkey", "bots", "name", "plugins", "config", "a", "b"]

func checkLocated(_ error: ConfigurationError, lines: Int) {
    for e in error.all {
        guard let location = e.location else { check(false, "an error without a location: \(e)"); continue }
        check(location.line >= 1 && location.line <= lines + 1 && location.column >= 1, "error outside the text: \(e)")
        check(!e.description.isEmpty, "an error without a message")
    }
}

func walk(_ field: YAMLField, _ walker: Walker, lines: Int, depth: Int = 0) {
    guard depth < 64 else { return }
    let located = { (error: ConfigurationError) in checkLocated(error, lines: lines) }
    switch field.value {
    case .mapping:
        do {
            let section = try walker.section(field, keys: keys)
            for key in keys {
                guard let member = section[key] else { _ = try? walker.required(section, key); continue }
                walk(member, walker, lines: lines, depth: depth + 1)
            }
        } catch { located(error) }
    case .sequence:
        do {
            for item in try walker.optionalSequence(field) ?? [] { walk(item, walker, lines: lines, depth: depth + 1) }
        } catch { located(error) }
    case .scalar, .alias:
        do { _ = try walker.string(field) } catch { located(error) }
        do { _ = try walker.integer(field) } catch { located(error) }
        do { _ = try walker.boolean(field) } catch { located(error) }
        do { _ = try walker.duration(field) } catch { located(error) }
        do { _ = try walker.isNull(field) } catch { located(error) }
    }
}

fuzzMain { bytes in
    let yaml = String(decoding: bytes, as: UTF8.self)
    guard let root = try? Yams.compose(yaml: yaml) else { return }
    let walker = Walker()
    // YAML breaks lines at CR, LF and CRLF (and NEL, LS, PS); Character.isNewline counts all of those, and a few more.
    let lines = yaml.reduce(1) { $1.isNewline ? $0 + 1 : $0 }
    let document = YAMLField(key: nil, value: root, path: "")
    do throws(ConfigurationError) {
        let value = try walker.json(document)
        let text = value.serialized()
        let again = try? JSONValue.parse(text)
        check(again.map { sameNumbers($0, value) } ?? false, "free-form value does not round trip: \(value)")
    } catch { checkLocated(error, lines: lines) }
    walk(document, walker, lines: lines)
    for error in walker.diagnostics.errors { checkLocated(error, lines: lines) }
}
