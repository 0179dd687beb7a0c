// The multipart/form-data parser. The input is a Content-Type line, LF, then the body. A body that parses is written
// out again from its parts (same boundary, headers one per line) and must parse to the same parts.
import FuzzSupport
import Media

fuzzMain { bytes in
    let input = Array(bytes)
    let newline = input.firstIndex(of: 0x0A) ?? input.count
    let contentType = String(decoding: input[..<newline], as: UTF8.self)
    let body = newline < input.count ? Array(input[(newline + 1)...]) : []
    guard let boundary = try? MultipartFormData.boundary(contentType: contentType) else { return }
    let limits = MultipartFormData.Limits()
    guard let form = try? MultipartFormData(body: body, boundary: boundary, limits: limits) else { return }
    check(!form.parts.isEmpty && form.parts.count <= limits.maxParts, "\(form.parts.count) parts")
    var rebuilt: [UInt8] = []
    for part in form.parts {
        check(part.body.startIndex >= 0 && part.body.endIndex <= body.count, "a part's body is outside the input")
        check(!part.name.isEmpty, "a part without a name")
        rebuilt += Array("--\(boundary)\r\n".utf8)
        for header in part.headers { rebuilt += Array("\(header.name): \(header.value)\r\n".utf8) }
        rebuilt += Array("\r\n".utf8) + Array(part.body) + Array("\r\n".utf8)
    }
    rebuilt += Array("--\(boundary)--\r\n".utf8)
    do {
        let again = try MultipartFormData(body: rebuilt, boundary: boundary, limits: limits)
        check(again.parts.count == form.parts.count, "rebuilt body has \(again.parts.count) parts, not \(form.parts.count)")
        for (a, b) in zip(form.parts, again.parts) {
            check(a.name == b.name && a.filename == b.filename && a.contentType == b.contentType, "part \(a.name) changed")
            check(a.headers == b.headers, "headers of part \(a.name) changed: \(a.headers) became \(b.headers)")
            check(Array(a.body) == Array(b.body), "body of part \(a.name) changed")
        }
    } catch {
        check(false, "the parts written out again do not parse: \(error)")
    }
}
