import Bridge
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// `/v3/push`, validate, cid and batch: success shapes and every error code.
@Suite struct PushAPITests {
    @Test func aPushAnswers200WithSendnoAndMsgIDAndLandsInTheAccountsInbox() async throws {
        try await withPushServer { s in
            try await s.accounts("alice")
            let reply = try await s.post("/v3/push", json: Push.alert("Order 42 shipped", aliases: ["uid_alice"]))
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json.sortedKeys == ["msg_id", "sendno"])
            #expect(json["sendno"] == "18")
            let msgID = try #require(json["msg_id"]?.stringValue.flatMap { Int64($0) })
            expectRateHeaders(reply)
            let alice = try await s.server.hub.user(appKey: Apps.otherAppKey, username: "alice")
            let inbox = try await s.server.hub.inbox(userID: alice.id, after: 0)
            #expect(inbox.count == 1)
            #expect(inbox.first?.stored?.message.fromType == .robot)
            #expect(inbox.first?.stored?.message.body.text == "Order 42 shipped")
            #expect(try await s.bridge.deliveries(msgID: msgID).count == 1)
        }
    }

    @Test func aMessagePushCarriesMsgContentAndExtras() async throws {
        try await withPushServer { s in
            try await s.accounts("alice")
            let body: JSONValue = ["platform": ["android", "ios"], "audience": ["alias": ["uid_alice"]],
                                   "message": ["msg_content": "refund approved", "extras": ["order": 7]]]
            let reply = try await s.post("/v3/push", json: body)
            #expect(reply.status == .ok, "\(reply)")
            #expect(try reply.json()["sendno"] == "0")
            let alice = try await s.server.hub.user(appKey: Apps.otherAppKey, username: "alice")
            let body2 = try #require(try await s.server.hub.inbox(userID: alice.id, after: 0).first?.stored).message.body
            guard case .text(let text) = body2 else { Issue.record("not text: \(body2)"); return }
            #expect(text.text == "refund approved")
            #expect(text.extras?["order"] == 7)
        }
    }

    @Test func authenticationFailuresAre1004With401() async throws {
        try await withPushServer { s in
            let body = Push.alert("x", aliases: ["uid_alice"])
            expectPushError(try await s.post("/v3/push", json: body, as: .none), status: .unauthorized, code: 1004,
                            messageContains: "Authorization")
            expectPushError(try await s.post("/v3/push", json: body, as: .app(Apps.appKey, "wrong")),
                            status: .unauthorized, code: 1004)
            expectPushError(try await s.post("/v3/push", json: body, as: .header("Bearer abc")), status: .unauthorized, code: 1004)
            expectPushError(try await s.post("/v3/push", json: body, as: .app("nosuchapp", "x")), status: .unauthorized, code: 1004)
        }
    }

    @Test(arguments: [
        (#"{"audience":"all","notification":{"alert":"x"}}"#, 1002, "platform"),
        (#"{"platform":"all","notification":{"alert":"x"}}"#, 1002, "audience"),
        (#"{"platform":"all","audience":"all"}"#, 1002, "notification or message"),
        (#"{"platform":"all","audience":"all","message":{"title":"t"}}"#, 1002, "message.msg_content"),
        (#"{"platform":"all","audience":"all","notification":{"android":{"title":"t"}}}"#, 1002, "notification.alert"),
        (#"{"platform":"pc","audience":"all","notification":{"alert":"x"}}"#, 1003, "platform"),
        (#"{"platform":["android","pc"],"audience":"all","notification":{"alert":"x"}}"#, 1003, "platform[1]"),
        (#"{"platform":"all","audience":{"alias":[]},"notification":{"alert":"x"}}"#, 1003, "audience.alias"),
        (#"{"platform":"all","audience":{"alias":[1]},"notification":{"alert":"x"}}"#, 1003, "audience.alias[0]"),
        (#"{"platform":"all","audience":{"tag_not":["a"]},"notification":{"alert":"x"}}"#, 1003, "audience.tag_not"),
        (#"{"platform":"all","audience":{"alias":["a"]},"notification":{"alert":5}}"#, 1003, "notification.alert"),
        (#"{"platform":"all","audience":{"alias":["a"]},"notification":{"alert":"x"},"options":{"time_to_live":864001}}"#, 1003,
         "options.time_to_live"),
        (#"{"platform":"all","audience":{"alias":["a"]},"notification":{"alert":"x"},"options":{"sendno":"abc"}}"#, 1003,
         "options.sendno"),
        (#"{"platform":"all","audience":{"alias":["a"]},"notification":{"alert":"x"},"cid":7}"#, 1003, "cid"),
        (#"{"platform":"all","audience":{"segment":["s"]},"notification":{"alert":"x"}}"#, 1009, "audience.segment"),
        (#"{"platform":"all","audience":"all","notification":{"alert":"x"},"colour":1}"#, 1009, "colour"),
        (#"{"platform":"all","audience":{"alias":["a"]},"notification":{"alert":"x"},"options":{"override_msg_id":1}}"#, 1009,
         "override_msg_id"),
        (#"[1,2]"#, 1003, "object"),
        (#"{"platform":"#, 1003, "not JSON"),
    ])
    func badPushBodiesAreNamed(body: String, code: Int, fragment: String) async throws {
        try await withPushServer { s in
            expectPushError(try await s.post("/v3/push", body), status: .badRequest, code: code, messageContains: fragment)
            expectPushError(try await s.post("/v3/push/validate", body), status: .badRequest, code: code, messageContains: fragment)
        }
    }

    @Test func anEmptyBodyIs1002AndAnOversizedPayloadIs1005() async throws {
        try await withPushServer { s in
            expectPushError(try await s.post("/v3/push", nil), status: .badRequest, code: 1002)
            let big = String(repeating: "x", count: 4001)
            expectPushError(try await s.post("/v3/push", json: Push.alert(big, aliases: ["uid_alice"])), status: .badRequest,
                            code: 1005)
        }
    }

    @Test func anAudienceWithoutAccountsIs1011AndAnAppWithoutARuleIs1008() async throws {
        try await withPushServer { s in
            expectPushError(try await s.post("/v3/push", json: Push.alert("x", aliases: ["uid_nobody"])),
                            status: .badRequest, code: 1011, messageContains: "cannot find user by this audience")
            expectPushError(try await s.post("/v3/push", json: Push.alert("x", aliases: ["uid_a"]), as: .other),
                            status: .badRequest, code: 1008, messageContains: "no bridge rule")
        }
    }

    @Test func getOnPushIs1001With405() async throws {
        try await withPushServer { s in
            expectPushError(try await s.get("/v3/push"), status: .methodNotAllowed, code: 1001)
        }
    }

    @Test func validateChecksWithoutSending() async throws {
        try await withPushServer { s in
            try await s.accounts("alice")
            let reply = try await s.post("/v3/push/validate", json: Push.alert("x", aliases: ["uid_alice"]))
            #expect(reply.status == .ok, "\(reply)")
            #expect(try reply.json() == ["sendno": "18", "msg_id": "0"])
            let alice = try await s.server.hub.user(appKey: Apps.otherAppKey, username: "alice")
            #expect(try await s.server.hub.inbox(userID: alice.id, after: 0).isEmpty)
            expectPushError(try await s.post("/v3/push/validate", json: Push.alert("x", aliases: ["uid_bob"])),
                            status: .badRequest, code: 1011)
        }
    }

    @Test func cidsAreIssuedAndMakeRetriesIdempotent() async throws {
        try await withPushServer { s in
            try await s.accounts("alice")
            let reply = try await s.get("/v3/push/cid?count=3&type=push")
            #expect(reply.status == .ok, "\(reply)")
            let list = try #require(try reply.json()["cidlist"]?.arrayValue)
            #expect(list.count == 3)
            #expect(Set(list).count == 3)
            #expect(list.allSatisfy { $0.stringValue?.hasPrefix(Apps.appKey + "-") == true })
            #expect(try await s.get("/v3/push/cid").json()["cidlist"]?.arrayValue?.count == 1)
            expectPushError(try await s.get("/v3/push/cid?count=0"), status: .badRequest, code: 1003, messageContains: "count")
            expectPushError(try await s.get("/v3/push/cid?type=x"), status: .badRequest, code: 1003, messageContains: "type")

            let cid = try #require(list[0].stringValue)
            let first = try await s.post("/v3/push", json: Push.alert("once", aliases: ["uid_alice"], cid: cid))
            let retry = try await s.post("/v3/push", json: Push.alert("once", aliases: ["uid_alice"], cid: cid))
            #expect(first.status == .ok && retry.status == .ok)
            #expect(try first.json() == retry.json())
            let alice = try await s.server.hub.user(appKey: Apps.otherAppKey, username: "alice")
            #expect(try await s.server.hub.inbox(userID: alice.id, after: 0).count == 1)
        }
    }

    @Test func batchPushesAnswerPerCid() async throws {
        try await withPushServer { s in
            try await s.accounts("alice")
            _ = try await s.request(.post, "/v3/devices/rid-9", body: ["alias": "uid_alice"])
            let alias: JSONValue = ["pushlist": [
                "c1": ["platform": "all", "target": "uid_alice", "notification": ["alert": "a"]],
                "c2": ["platform": "all", "target": "uid_nobody", "notification": ["alert": "b"]],
                "c3": ["platform": "all", "target": "uid_alice"],
            ]]
            let reply = try await s.post("/v3/push/batch/alias/single", json: alias)
            #expect(reply.status == .ok, "\(reply)")
            let json = try reply.json()
            #expect(json.sortedKeys == ["c1", "c2", "c3"])
            #expect(json["c1"]?["msg_id"]?.stringValue != nil)
            #expect(json["c2"]?["error"]?["code"] == 1011)
            #expect(json["c3"]?["error"]?["code"] == 1002)
            let regid: JSONValue = ["pushlist": ["c4": ["platform": "all", "target": "rid-9", "message": ["msg_content": "m"]]]]
            let r2 = try await s.post("/v3/push/batch/regid/single", json: regid)
            #expect(try r2.json()["c4"]?["msg_id"]?.stringValue != nil, "\(r2)")
            expectPushError(try await s.post("/v3/push/batch/alias/single", json: ["pushlist": [:]]), status: .badRequest, code: 1003)
            expectPushError(try await s.post("/v3/push/batch/alias/single", json: ["list": [:]]), status: .badRequest, code: 1009)
            expectPushError(try await s.post("/v3/push/batch/alias/single", json: [:]), status: .badRequest, code: 1002)
        }
    }

    @Test func theRateLimitIsAPerAppKeyTokenBucket() async throws {
        try await withPushServer(rateLimit: RateLimit(requests: 3, per: .seconds(60))) { s in
            for expected in [2, 1, 0] {
                let reply = try await s.get("/v3/tags")
                #expect(reply.status == .ok, "\(reply)")
                #expect(reply.headers[HTTPField.Name("X-Rate-Limit-Limit")!] == "3")
                #expect(reply.headers[HTTPField.Name("X-Rate-Limit-Remaining")!] == String(expected))
            }
            let limited = try await s.get("/v3/tags")
            expectPushError(limited, status: .tooManyRequests, code: 2002)
            #expect(limited.headers[HTTPField.Name("X-Rate-Limit-Reset")!] == "60")
            // Another AppKey has its own bucket.
            #expect(try await s.get("/v3/tags", as: .other).status == .ok)
            s.clock.advance(seconds: 20)          // one token back
            #expect(try await s.get("/v3/tags").status == .ok)
            expectPushError(try await s.get("/v3/tags"), status: .tooManyRequests, code: 2002)
        }
    }
}
