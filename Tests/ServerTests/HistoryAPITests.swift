import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// The history API v2: GET /v2/messages and GET /v2/users/{username}/messages.
@Suite struct HistoryAPITests {
    static let paths = ["/v2/messages", "/v2/users/alice/messages"]

    /// A server with admin `admin1` and users `alice`, `bobby`.
    func withPeople<T: Sendable>(_ test: @Sendable (TestServer) async throws -> T) async throws -> T {
        try await withServer { server in
            try await server.registerAdmin("admin1")
            try await server.registerUsers(["alice", "bobby"])
            return try await test(server)
        }
    }

    /// Follows cursors from a first query; returns the pages' messages and the cursors seen.
    func allPages(_ server: TestServer, _ path: String, _ query: String,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> [[JSONValue]] {
        var pages: [[JSONValue]] = []
        var uri = "\(path)?\(query)"
        for _ in 0..<20 {
            let reply = try await server.get(uri)
            try #require(reply.status == .ok, "\(reply)", sourceLocation: sourceLocation)
            let json = try reply.json()
            pages.append(try #require(json["messages"]?.arrayValue, sourceLocation: sourceLocation))
            #expect(json["count"]?.intValue == Int64(pages.last!.count), sourceLocation: sourceLocation)
            guard let cursor = json["cursor"]?.stringValue else { return pages }
            uri = "\(path)?cursor=\(cursor)"
        }
        Issue.record("cursors never end", sourceLocation: sourceLocation)
        return pages
    }

    // MARK: Parameters

    @Test("count, begin_time and end_time are required: 400 899003 naming each", arguments: paths)
    func requiredParameters(_ path: String) async throws {
        try await withPeople { server in
            let now = Date()
            let begin = "begin_time=\(WireClock.encoded(now - 60))"
            let end = "end_time=\(WireClock.encoded(now + 60))"
            expectError(try await server.get("\(path)?\(begin)&\(end)"), status: .badRequest, code: 899003,
                        message: "count: required")
            expectError(try await server.get("\(path)?count=10&\(end)"), status: .badRequest, code: 899003,
                        message: "begin_time: required")
            expectError(try await server.get("\(path)?count=10&\(begin)"), status: .badRequest, code: 899003,
                        message: "end_time: required")
            expectError(try await server.get(path), status: .badRequest, code: 899003, messagePrefix: "count")
            expectError(try await server.get("\(path)?cursor="), status: .badRequest, code: 899003,
                        messagePrefix: "count")
        }
    }

    @Test("count must be 1...1000", arguments: ["0", "1001", "-1", "abc", "", "1.5", "99999999999999999999"])
    func badCount(_ count: String) async throws {
        try await withPeople { server in
            let query = WireClock.window(count: 1).replacingOccurrences(of: "count=1", with: "count=\(count)")
            for path in Self.paths {
                expectError(try await server.get("\(path)?\(query)"), status: .badRequest, code: 899003,
                            messagePrefix: "count")
            }
        }
    }

    @Test("count 1 and 1000 are accepted")
    func countBounds() async throws {
        try await withPeople { server in
            for count in [1, 1000] {
                for path in Self.paths {
                    let reply = try await server.get("\(path)?\(WireClock.window(count: count))")
                    #expect(reply.status == .ok, "\(reply)")
                }
            }
        }
    }

    @Test("a range over 7 days is rejected, exactly 7 days is accepted", arguments: paths)
    func rangeLimit(_ path: String) async throws {
        try await withPeople { server in
            let end = Date()
            let over = "count=10&begin_time=\(WireClock.encoded(end - 7 * 86400 - 1))&end_time=\(WireClock.encoded(end))"
            expectError(try await server.get("\(path)?\(over)"), status: .badRequest, code: 899003,
                        messagePrefix: "end_time")
            let days8 = "count=10&begin_time=\(WireClock.encoded(end - 8 * 86400))&end_time=\(WireClock.encoded(end))"
            expectError(try await server.get("\(path)?\(days8)"), status: .badRequest, code: 899003)
            let exact = "count=10&begin_time=\(WireClock.encoded(end - 7 * 86400))&end_time=\(WireClock.encoded(end))"
            #expect(try await server.get("\(path)?\(exact)").status == .ok)
        }
    }

    @Test("end_time before begin_time: 400 899003")
    func reversedRange() async throws {
        try await withPeople { server in
            let now = Date()
            let query = "count=10&begin_time=\(WireClock.encoded(now))&end_time=\(WireClock.encoded(now - 60))"
            expectError(try await server.get("/v2/messages?\(query)"), status: .badRequest, code: 899003,
                        messagePrefix: "end_time")
        }
    }

    @Test("a malformed time: 400 899003 naming the parameter", arguments: [
        "2024-13-01%2000:00:00", "2024-02-30%2000:00:00", "2024-01-01%2024:00:00", "yesterday", "2024-01-01",
        "1700000000", "%20",
    ])
    func malformedTime(_ time: String) async throws {
        try await withPeople { server in
            let good = WireClock.encoded(Date())
            expectError(try await server.get("/v2/messages?count=10&begin_time=\(time)&end_time=\(good)"),
                        status: .badRequest, code: 899003, messagePrefix: "begin_time")
            expectError(try await server.get("/v2/messages?count=10&begin_time=\(good)&end_time=\(time)"),
                        status: .badRequest, code: 899003, messagePrefix: "end_time")
        }
    }

    @Test("the official Java SDK's URLEncoder form ('+' for space, %3A for ':') is understood")
    func javaSDKEncoding() async throws {
        try await withPeople { server in
            try await server.sendText(from: "admin1", to: "alice", "hi")
            let now = Date()
            func java(_ date: Date) -> String {
                WireClock.format(date).replacingOccurrences(of: " ", with: "+").replacingOccurrences(of: ":", with: "%3A")
            }
            let reply = try await server.get("/v2/messages?count=10&begin_time=\(java(now - 60))&end_time=\(java(now + 60))")
            #expect(reply.status == .ok, "\(reply)")
            #expect(try reply.json()["total"]?.intValue == 1)
        }
    }

    @Test("an unknown user's history: 404 899002")
    func unknownUser() async throws {
        try await withPeople { server in
            expectError(try await server.get("/v2/users/ghost/messages?\(WireClock.window(count: 10))"),
                        status: .notFound, code: 899002)
        }
    }

    // MARK: Results

    @Test("messages come ascending with the documented fields")
    func fields() async throws {
        try await withPeople { server in
            var sent: [(msgID: Int64, msgCtime: Int64)] = []
            for i in 0..<3 {
                sent.append(try await server.sendText(from: "admin1", to: "alice", "text \(i)"))
            }
            let reply = try await server.get("/v2/messages?\(WireClock.window(count: 10))")
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json["total"]?.intValue == 3)
            #expect(json["count"]?.intValue == 3)
            #expect(json["cursor"] == nil)
            let messages = try #require(json["messages"]?.arrayValue)
            try #require(messages.count == 3)
            for (i, m) in messages.enumerated() {
                #expect(m["msgid"]?.intValue == sent[i].msgID)
                #expect(m["msg_ctime"]?.intValue == sent[i].msgCtime)
                let createTime = try #require(m["create_time"]?.intValue)
                #expect(abs(createTime - sent[i].msgCtime / 1000) <= 1, "create_time is in seconds: \(createTime)")
                #expect(m["from_appkey"] == .string(Apps.appKey))
                #expect(m["target_appkey"] == .string(Apps.appKey))
                #expect(m["msg_level"] == 0)
                #expect(m["msg_body"] == ["text": .string("text \(i)")])
                #expect(m["msg_type"] == "text")
                #expect(m["from_type"] == "admin")
                #expect(m["from_id"] == "admin1")
                #expect(m["target_type"] == "single")
                #expect(m["target_id"] == "alice")
                #expect(m["version"] == 1)
                #expect(m["from_platform"]?.stringValue != nil)
                #expect(m["from_name"]?.stringValue != nil)
                #expect(m["target_name"]?.stringValue != nil)
            }
            let ids = messages.compactMap { $0["msgid"]?.intValue }
            #expect(ids == ids.sorted())
            let times = messages.compactMap { $0["msg_ctime"]?.intValue }
            #expect(times == times.sorted())
        }
    }

    @Test("a user's history has the messages they sent or received, and only those")
    func perUser() async throws {
        try await withPeople { server in
            let a1 = try await server.sendText(from: "admin1", to: "alice", "a1")
            let b1 = try await server.sendText(from: "admin1", to: "bobby", "b1")
            let a2 = try await server.sendText(from: "admin1", to: "alice", "a2")
            func ids(_ path: String) async throws -> [Int64] {
                let json = try await server.get("\(path)?\(WireClock.window(count: 100))").json()
                #expect(json["total"]?.intValue == Int64(json["messages"]?.arrayValue?.count ?? -1))
                return json["messages"]?.arrayValue?.compactMap { $0["msgid"]?.intValue } ?? []
            }
            #expect(try await ids("/v2/users/alice/messages") == [a1.msgID, a2.msgID])
            #expect(try await ids("/v2/users/bobby/messages") == [b1.msgID])
            #expect(try await ids("/v2/users/admin1/messages") == [a1.msgID, b1.msgID, a2.msgID])
            #expect(try await ids("/v2/messages") == [a1.msgID, b1.msgID, a2.msgID])
        }
    }

    @Test("messages outside the time range are not listed")
    func outsideRange() async throws {
        try await withPeople { server in
            try await server.sendText(from: "admin1", to: "alice", "now")
            let now = Date()
            for (begin, end) in [(now - 3 * 86400, now - 2 * 86400), (now + 3600, now + 7200)] {
                let query = "count=10&begin_time=\(WireClock.encoded(begin))&end_time=\(WireClock.encoded(end))"
                let json = try await server.get("/v2/messages?\(query)").json()
                #expect(json["total"] == 0)
                #expect(json["count"] == 0)
                #expect(json["messages"] == [])
                #expect(json["cursor"] == nil)
            }
        }
    }

    @Test("an empty history is 200 with no messages and no cursor", arguments: paths)
    func empty(_ path: String) async throws {
        try await withPeople { server in
            let json = try await server.get("\(path)?\(WireClock.window(count: 10))").json()
            #expect(json["total"] == 0)
            #expect(json["count"] == 0)
            #expect(json["messages"] == [])
            #expect(json["cursor"] == nil)
        }
    }

    // MARK: Paging

    @Test("5 messages with count=2: cursors walk through all 5 exactly once, in order", arguments: paths)
    func paging(_ path: String) async throws {
        try await withPeople { server in
            // For alice's history, messages to bobby are interleaved and must be skipped.
            let interleave = path != "/v2/messages"
            var sent: [Int64] = []
            for i in 0..<5 {
                sent.append(try await server.sendText(from: "admin1", to: "alice", "m\(i)").msgID)
                if interleave { try await server.sendText(from: "admin1", to: "bobby", "other \(i)") }
            }
            let expected = sent

            let first = try await server.get("\(path)?\(WireClock.window(count: 2))").json()
            #expect(first["total"]?.intValue == 5)
            #expect(first["count"] == 2)
            #expect(first["cursor"]?.stringValue?.isEmpty == false)

            let pages = try await allPages(server, path, WireClock.window(count: 2))
            #expect(pages.map(\.count) == [2, 2, 1])
            let ids = pages.flatMap { $0 }.compactMap { $0["msgid"]?.intValue }
            #expect(ids == expected)
            #expect(Set(ids).count == ids.count)
        }
    }

    @Test("the last page of 5 messages has no cursor")
    func lastPageHasNoCursor() async throws {
        try await withPeople { server in
            for i in 0..<5 {
                try await server.sendText(from: "admin1", to: "alice", "m\(i)")
            }
            var json = try await server.get("/v2/messages?\(WireClock.window(count: 2))").json()
            var pages = 1
            while let cursor = json["cursor"]?.stringValue, pages < 10 {
                json = try await server.get("/v2/messages?cursor=\(cursor)").json()
                pages += 1
            }
            #expect(pages == 3)
            #expect(json["count"] == 1)
            #expect(json["messages"]?.arrayValue?.count == 1)
            #expect(json.objectValue?.keys.contains("cursor") == false)
        }
    }

    @Test("a page size equal to the number of messages: the next page is empty and ends")
    func exactMultiple() async throws {
        try await withPeople { server in
            for i in 0..<4 {
                try await server.sendText(from: "admin1", to: "alice", "m\(i)")
            }
            let pages = try await allPages(server, "/v2/messages", WireClock.window(count: 2))
            #expect(pages.flatMap { $0 }.count == 4)
            #expect(pages.count <= 3)
            #expect(pages.last?.count ?? 0 <= 2)
        }
    }

    @Test("a cursor keeps the range: messages sent after the first page are still listed when in range")
    func cursorSeesLaterMessages() async throws {
        try await withPeople { server in
            for i in 0..<2 {
                try await server.sendText(from: "admin1", to: "alice", "m\(i)")
            }
            let first = try await server.get("/v2/messages?\(WireClock.window(count: 2))").json()
            let cursor = try #require(first["cursor"]?.stringValue)
            let late = try await server.sendText(from: "admin1", to: "alice", "late")
            let second = try await server.get("/v2/messages?cursor=\(cursor)").json()
            #expect(second["messages"]?.arrayValue?.compactMap { $0["msgid"]?.intValue } == [late.msgID])
        }
    }

    @Test("a garbage cursor: 400 899003", arguments: [
        "garbage", "!!!", "%00", base64URL("{}"), base64URL("[1,2]"), base64URL("not json"),
        base64URL(#"{"k":"4f7aef34fb361292c566a1cd","b":0,"e":1}"#),
    ])
    func garbageCursor(_ cursor: String) async throws {
        try await withPeople { server in
            for path in Self.paths {
                expectError(try await server.get("\(path)?cursor=\(cursor)"), status: .badRequest, code: 899003,
                            messagePrefix: "cursor")
            }
        }
    }

    @Test("a cursor only works where it came from")
    func cursorScope() async throws {
        try await withPeople { server in
            try await server.registerUsers(["alice", "bobby"], as: .other)
            for i in 0..<3 {
                try await server.sendText(from: "admin1", to: "alice", "m\(i)")
                try await server.sendText(from: "admin1", to: "bobby", "m\(i)")
            }
            let alice = try await server.get("/v2/users/alice/messages?\(WireClock.window(count: 1))").json()
            let aliceCursor = try #require(alice["cursor"]?.stringValue)
            let app = try await server.get("/v2/messages?\(WireClock.window(count: 1))").json()
            let appCursor = try #require(app["cursor"]?.stringValue)

            // Works where it came from.
            #expect(try await server.get("/v2/users/alice/messages?cursor=\(aliceCursor)").status == .ok)
            #expect(try await server.get("/v2/messages?cursor=\(appCursor)").status == .ok)

            // Another username, the app route, or the user route with the app's cursor.
            expectError(try await server.get("/v2/users/bobby/messages?cursor=\(aliceCursor)"),
                        status: .badRequest, code: 899003, messagePrefix: "cursor")
            expectError(try await server.get("/v2/messages?cursor=\(aliceCursor)"),
                        status: .badRequest, code: 899003, messagePrefix: "cursor")
            expectError(try await server.get("/v2/users/alice/messages?cursor=\(appCursor)"),
                        status: .badRequest, code: 899003, messagePrefix: "cursor")
            // Another app, even with a user of the same name.
            expectError(try await server.get("/v2/users/alice/messages?cursor=\(aliceCursor)", as: .other),
                        status: .badRequest, code: 899003, messagePrefix: "cursor")
            expectError(try await server.get("/v2/messages?cursor=\(appCursor)", as: .other),
                        status: .badRequest, code: 899003, messagePrefix: "cursor")
        }
    }

    @Test("an expired cursor: 400 899003")
    func expiredCursor() async throws {
        try await withPeople { server in
            let now = nowMillis()
            let cursor = base64URL(
                #"{"k":"\#(Apps.appKey)","b":\#(now - 60_000),"e":\#(now + 60_000),"c":2,"a":0,"x":\#(now - 1)}"#)
            expectError(try await server.get("/v2/messages?cursor=\(cursor)"), status: .badRequest, code: 899003,
                        messagePrefix: "cursor")
        }
    }

    @Test("a forged cursor cannot lift the limits of count and range")
    func forgedCursor() async throws {
        try await withPeople { server in
            for i in 0..<3 {
                try await server.sendText(from: "admin1", to: "alice", "m\(i)")
            }
            let now = nowMillis()
            let forged = [
                #"{"k":"\#(Apps.appKey)","b":\#(now - 60_000),"e":\#(now + 60_000),"c":-1,"a":0,"x":\#(now + 60_000)}"#,
                #"{"k":"\#(Apps.appKey)","b":\#(now - 60_000),"e":\#(now + 60_000),"c":5000,"a":0,"x":\#(now + 60_000)}"#,
                #"{"k":"\#(Apps.appKey)","b":0,"e":\#(now + 60_000),"c":10,"a":0,"x":\#(now + 60_000)}"#,
                #"{"k":"\#(Apps.appKey)","b":\#(now - 60_000),"e":\#(now + 60_000),"c":10,"a":0,"x":\#(now + 86_400_000)}"#,
            ]
            for text in forged {
                expectError(try await server.get("/v2/messages?cursor=\(base64URL(text))"), status: .badRequest,
                            code: 899003, messagePrefix: "cursor")
            }
        }
    }
}
