import Foundation
import Hub
import Hummingbird
import IMProtocol
import NIOCore

extension Request {
    /// Reads the whole body (at most `limit` bytes) and parses it as JSON, whatever the Content-Type says
    /// (clients send `application/json;charset:utf-8` and worse).
    func jsonBody(limit: Int = 1 << 20) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch {
            throw APIError(.invalidParameter, "request body larger than \(limit) bytes")
        }
        guard buffer.readableBytes > 0 else { throw APIError(.invalidParameter, "request body is empty") }
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw APIError.invalid(error)
        }
    }

    /// Authenticates the caller with `Authorization: Basic base64(appKey:masterSecret)`.
    func authenticatedApp(_ hub: Hub) throws -> AppSettings {
        let credentials: BasicCredentials
        switch BasicCredentials.parse(headers[.authorization]) {
        case .success(let c): credentials = c
        case .failure(.missing):
            throw APIError(.missingAuthentication, "Authorization header is missing; use Basic appKey:masterSecret")
        case .failure(.malformed):
            throw APIError(.authenticationFailed, "Basic authentication failed")
        }
        do {
            return try hub.authenticateApp(appKey: credentials.user, secret: credentials.password)
        } catch {
            // An unknown AppKey in the credentials is an authentication failure (401); the same code about an
            // AppKey named in a request body is a bad parameter (400).
            throw APIError(error.code, error.message, status: .unauthorized)
        }
    }
}

extension JSONObjectReader {
    /// Reads an object from a request body, answering 899003 for anything else.
    static func body(_ value: JSONValue, path: String = "") throws -> JSONObjectReader {
        do {
            return try JSONObjectReader(value, path: path)
        } catch {
            throw APIError.invalid(error)
        }
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded (clients encode `@` in usernames as `%40`).
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError(.invalidParameter, "\(name): malformed percent-encoding in the path")
        }
        return decoded
    }
}

/// Formats times the way the JMessage REST API does: `yyyy-MM-dd HH:mm:ss`, in UTC.
enum WireTime {
    static func format(millis: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        return date.formatted(Date.VerbatimFormatStyle(
            format: "\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits)",
            timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
    }

    /// Parses `yyyy-MM-dd HH:mm:ss`; a `+` stands for the space, as form encoding (Java's `URLEncoder`) writes it.
    static func parse(_ text: String) -> Int64? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "+" || $0 == "-" || $0 == ":" || $0 == "T" })
        guard parts.count == 6, let y = Int(parts[0]), let mo = Int(parts[1]), let d = Int(parts[2]),
              let h = Int(parts[3]), let mi = Int(parts[4]), let s = Int(parts[5]),
              (1...12).contains(mo), (1...31).contains(d), (0...23).contains(h), (0...59).contains(mi), (0...60).contains(s)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        guard let date = calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s)),
              calendar.component(.day, from: date) == d
        else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }
}
