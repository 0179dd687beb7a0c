import Bridge
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// The device API, the alias bindings and the report API: success shapes and error codes.
@Suite struct PushDeviceReportTests {
    @Test func devicesKeepAliasMobileAndTags() async throws {
        try await withPushServer { s in
            let set = try await s.request(.post, "/v3/devices/rid-1",
                                          body: ["alias": "uid_alice", "mobile": "13800000000", "tags": ["add": ["vip", "bj"]]])
            #expect(set.status == .ok, "\(set)")
            #expect(set.text.isEmpty)
            expectRateHeaders(set)
            let got = try await s.get("/v3/devices/rid-1")
            #expect(try got.json() == ["tags": ["bj", "vip"], "alias": "uid_alice", "mobile": "13800000000"])
            _ = try await s.request(.post, "/v3/devices/rid-1", body: ["alias": "", "mobile": "", "tags": ["remove": ["bj"]]])
            #expect(try await s.get("/v3/devices/rid-1").json() == ["tags": ["vip"], "alias": nil, "mobile": nil])
            _ = try await s.request(.post, "/v3/devices/rid-1", body: ["tags": ""])
            #expect(try await s.get("/v3/devices/rid-1").json()["tags"] == [])
        }
    }

    @Test func deviceErrorsAre7002And7008And7004() async throws {
        try await withPushServer { s in
            expectPushError(try await s.get("/v3/devices/nosuch"), status: .badRequest, code: 7008, messageContains: "nosuch")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: ["alias": 5]), status: .badRequest, code: 7002,
                            messageContains: "alias")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: ["alias": .string(String(repeating: "a", count: 41))]),
                            status: .badRequest, code: 7002, messageContains: "alias")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: ["tags": ["add": "vip"]]), status: .badRequest,
                            code: 7002, messageContains: "tags.add")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: ["mobile": "phone"]), status: .badRequest,
                            code: 7002, messageContains: "mobile")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: ["colour": "red"]), status: .badRequest,
                            code: 7002, messageContains: "colour")
            expectPushError(try await s.request(.post, "/v3/devices/r1", body: [:]), status: .badRequest, code: 7002)
            expectPushError(try await s.get("/v3/devices/r1", as: .none), status: .unauthorized, code: 7004)
            expectPushError(try await s.get("/v3/aliases/a1?platform=pc"), status: .badRequest, code: 7002, messageContains: "platform")
        }
    }

    @Test func aliasesListAndUnbindTheirDevices() async throws {
        try await withPushServer { s in
            _ = try await s.request(.post, "/v3/devices/rid-1", body: ["alias": "uid_alice"])
            _ = try await s.request(.post, "/v3/devices/rid-2", body: ["alias": "uid_alice"])
            #expect(try await s.get("/v3/aliases/uid_alice?platform=android,ios").json() == ["registration_ids": ["rid-1", "rid-2"]])
            // Another AppKey has its own devices.
            #expect(try await s.get("/v3/aliases/uid_alice", as: .other).json() == ["registration_ids": []])
            let deleted = try await s.request(.delete, "/v3/aliases/uid_alice")
            #expect(deleted.status == .ok, "\(deleted)")
            #expect(try await s.get("/v3/aliases/uid_alice").json() == ["registration_ids": []])
            #expect(try await s.get("/v3/devices/rid-1").json()["alias"] == JSONValue.null)
            expectPushError(try await s.request(.delete, "/v3/aliases/uid_alice"), status: .badRequest, code: 7008)
        }
    }

    @Test func tagsAddRemoveAndList() async throws {
        try await withPushServer { s in
            let add = try await s.post("/v3/tags/vip", json: ["registration_ids": ["add": ["r1", "r2"]]])
            #expect(add.status == .ok, "\(add)")
            #expect(try await s.get("/v3/tags").json() == ["tags": ["vip"]])
            #expect(try await s.get("/v3/tags/vip/registration_ids/r1").json() == ["result": true])
            _ = try await s.post("/v3/tags/vip", json: ["registration_ids": ["remove": ["r1"]]])
            #expect(try await s.get("/v3/tags/vip/registration_ids/r1").json() == ["result": false])
            #expect(try await s.request(.delete, "/v3/tags/vip").status == .ok)
            #expect(try await s.get("/v3/tags").json() == ["tags": []])
            expectPushError(try await s.request(.delete, "/v3/tags/vip"), status: .badRequest, code: 7008)
            expectPushError(try await s.post("/v3/tags/vip", json: ["registration_ids": [:]]), status: .badRequest, code: 7002)
            expectPushError(try await s.post("/v3/tags/vip", json: ["rids": ["add": ["r1"]]]), status: .badRequest, code: 7002)
        }
    }

    @Test func bindingsAreManagedOverHTTP() async throws {
        try await withPushServer { s in
            let put = try await s.request(.put, "/v3/bridge/bindings/13800000000", body: ["username": "alice"])
            #expect(put.status == .ok, "\(put)")
            #expect(try put.json() == ["alias": "13800000000", "username": "alice"])
            #expect(try await s.get("/v3/bridge/bindings/13800000000").json() == ["alias": "13800000000", "username": "alice"])
            #expect(try await s.get("/v3/bridge/bindings").json() == ["bindings": [["alias": "13800000000", "username": "alice"]]])
            #expect(try await s.request(.delete, "/v3/bridge/bindings/13800000000").status == .ok)
            expectPushError(try await s.get("/v3/bridge/bindings/13800000000"), status: .badRequest, code: 7008)
            expectPushError(try await s.request(.put, "/v3/bridge/bindings/x", body: ["username": "!"]), status: .badRequest,
                            code: 7002, messageContains: "username")
            expectPushError(try await s.request(.put, "/v3/bridge/bindings/x", body: ["user": "alice"]), status: .badRequest,
                            code: 7002)
        }
    }

    @Test func reportsCountReceiptsPerMsgID() async throws {
        try await withPushServer { s in
            try await s.accounts("alice", "bob_b")
            _ = try await s.request(.post, "/v3/devices/rid-a", body: ["alias": "uid_alice"])
            _ = try await s.request(.post, "/v3/devices/rid-b", body: ["alias": "uid_bob_b"])
            _ = try await s.request(.post, "/v3/devices/rid-z", body: ["alias": "uid_zed"])
            let msgID = try await s.push("pay", to: ["uid_alice", "uid_bob_b"])
            let alice = try await s.server.hub.user(appKey: Apps.otherAppKey, username: "alice")
            try await s.server.hub.acknowledge(userID: alice.id, device: "phone", seq: 1)

            let received = try await s.get("/v3/received?msg_ids=\(msgID),999999")
            #expect(received.status == .ok, "\(received)")
            expectRateHeaders(received)
            #expect(try received.json() == [
                ["msg_id": .int(msgID), "android_received": 1, "ios_apns_sent": nil, "ios_apns_received": nil,
                 "ios_msg_received": nil, "wp_mpns_sent": nil],
                ["msg_id": 999999, "android_received": nil, "ios_apns_sent": nil, "ios_apns_received": nil,
                 "ios_msg_received": nil, "wp_mpns_sent": nil],
            ])
            let detail = try await s.get("/v3/received/detail?msg_ids=\(msgID)").json()
            #expect(detail.arrayValue?.first?["jpush_received"] == 1)
            let messages = try await s.get("/v3/messages?msg_ids=\(msgID)").json()
            let m = try #require(messages.arrayValue?.first)
            #expect(m["android"] == ["received": 1, "target": 2, "online_push": 2, "click": nil, "msg_click": nil])
            #expect(m["bridge"] == ["target": 2, "delivered": 2, "received": 1, "expired": 0, "failed": 0, "pending": 0,
                                    "escalations": 0])

            let status = try await s.post("/v3/status/message",
                                          json: ["msg_id": .int(msgID), "registration_ids": ["rid-a", "rid-b", "rid-z", "rid-q"]])
            #expect(status.status == .ok, "\(status)")
            #expect(try status.json() == ["rid-a": ["status": 0], "rid-b": ["status": 1], "rid-z": ["status": 3],
                                          "rid-q": ["status": 2]])
            // Another AppKey does not see this push.
            expectPushError(try await s.post("/v3/status/message", json: ["msg_id": .int(msgID), "registration_ids": ["rid-a"]],
                                              as: .other), status: .badRequest, code: 3005)
        }
    }

    @Test func reportErrorsAre3004And3001() async throws {
        try await withPushServer { s in
            expectPushError(try await s.get("/v3/received"), status: .badRequest, code: 3004, messageContains: "msg_ids")
            expectPushError(try await s.get("/v3/received?msg_ids=1,abc"), status: .badRequest, code: 3004, messageContains: "abc")
            let many = (1...101).map(String.init).joined(separator: ",")
            expectPushError(try await s.get("/v3/messages?msg_ids=\(many)"), status: .badRequest, code: 3004,
                            messageContains: "at most 100")
            expectPushError(try await s.get("/v3/received?msg_ids=1", as: .none), status: .unauthorized, code: 3001)
            expectPushError(try await s.post("/v3/status/message", json: ["registration_ids": ["r"]]), status: .badRequest,
                            code: 3004, messageContains: "msg_id")
            expectPushError(try await s.post("/v3/status/message", json: ["msg_id": 1, "registration_ids": []]),
                            status: .badRequest, code: 3004, messageContains: "registration_ids")
            expectPushError(try await s.post("/v3/status/message", json: ["msg_id": 12345, "registration_ids": ["r"]]),
                            status: .badRequest, code: 3005)
        }
    }
}
