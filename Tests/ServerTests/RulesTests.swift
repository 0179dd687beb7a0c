import Foundation
import HTTPTypes
import Hub
import IMProtocol
import Testing

/// The rules of sending, set up through the REST API and checked with real sends and inboxes.
@Suite struct RulesTests {
    @Test("friend mode: non-friends refused with 899071, friends allowed, robots and admins exempt")
    func friendMode() async throws {
        try await withServer(apps: [SocialApps.main(friendMode: true), SocialApps.other()]) { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.registerAdmin("admin1")
            _ = try await server.hub.register(appKey: Apps.appKey, NewUser(username: "robot1", password: "password1"),
                                              kind: .robot)
            await expectHubError(899071) { try await server.userSends("hi", from: "alice", to: "bobby") }
            #expect(try await server.messages(of: "bobby").isEmpty)

            // Robots and admins need no friendship, either way.
            try await server.userSends("beep", from: "robot1", to: "bobby")
            try await server.userSends("hi robot", from: "bobby", to: "robot1")
            try await server.sendText(from: "admin1", to: "bobby", "notice")
            #expect(try await server.messages(of: "bobby").count == 2)

            #expect(try await server.post("/v1/users/alice/friends", #"["bobby"]"#).status == .created)
            try await server.userSends("hi friend", from: "alice", to: "bobby")
            try await server.userSends("hi back", from: "bobby", to: "alice")
            #expect(try await server.messages(of: "bobby").count == 3)

            #expect(try await server.delete("/v1/users/alice/friends", #"["bobby"]"#).status == .noContent)
            await expectHubError(899071) { try await server.userSends("still?", from: "bobby", to: "alice") }
        }
    }

    @Test("without friend mode, strangers may talk")
    func noFriendMode() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.userSends("hi", from: "alice", to: "bobby")
            #expect(try await server.messages(of: "bobby").count == 1)
        }
    }

    @Test("a blacklist refuses the listed sender (803008) and nobody else, until removed")
    func blacklist() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            #expect(try await server.put("/v1/users/alice/blacklist", #"["bobby"]"#).status == .noContent)
            await expectHubError(803008) { try await server.userSends("hi", from: "bobby", to: "alice") }
            try await server.userSends("hi", from: "carol", to: "alice")
            try await server.userSends("hi", from: "alice", to: "bobby")
            #expect(try await server.messages(of: "alice").count == 1)
            #expect(try await server.messages(of: "bobby").count == 1)
            #expect(try await server.delete("/v1/users/alice/blacklist", #"["bobby"]"#).status == .noContent)
            try await server.userSends("hi again", from: "bobby", to: "alice")
            #expect(try await server.messages(of: "alice").count == 2)
        }
    }

    @Test("only members send to a group (803005); silenced ones may not (803012) and may again after unsilence")
    func groupMembershipAndSilence() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            try await server.registerAdmin("admin1")
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let g = String(gid)
            await expectHubError(803005) { try await server.userSends("let me in", from: "carol", to: g, type: .group) }
            try await server.userSends("member here", from: "bobby", to: g, type: .group)

            #expect(try await server.put("/v1/groups/messages/\(gid)/silence?status=true", #"["bobby"]"#).status
                    == .noContent)
            await expectHubError(803012) { try await server.userSends("muted", from: "bobby", to: g, type: .group) }
            try await server.userSends("owner speaks", from: "alice", to: g, type: .group)
            #expect(try await server.put("/v1/groups/messages/\(gid)/silence?status=false", #"["bobby"]"#).status
                    == .noContent)
            try await server.userSends("back", from: "bobby", to: g, type: .group)

            // An admin sends to any group of its app through the REST API.
            let body: JSONValue = [
                "version": 1, "target_type": "group", "target_id": .string(g), "from_type": "admin", "from_id": "admin1",
                "msg_type": "text", "msg_body": ["text": "admin"],
            ]
            #expect(try await server.post("/v1/messages", json: body).status == .created)
            let unknown = setting("target_id", to: "99999", in: body)
            expectError(try await server.post("/v1/messages", json: unknown), status: .notFound, code: 899006)
            let notANumber = setting("target_id", to: "abc", in: body)
            expectError(try await server.post("/v1/messages", json: notANumber), status: .badRequest, code: 899003,
                        messagePrefix: "target_id")

            let texts = try await server.messages(of: "alice").map(\.message.message.body)
            #expect(texts == [.text("member here"), .text("back"), .text("admin")])
            #expect(try await server.messages(of: "carol").isEmpty)
        }
    }

    @Test("a removed member may no longer send to the group")
    func removedMember() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            #expect(try await server.post("/v2/groups/\(gid)/delMembers", #"["bobby"]"#).status == .noContent)
            await expectHubError(803005) { try await server.userSends("x", from: "bobby", to: String(gid), type: .group) }
        }
    }

    @Test("a forbidden admin cannot send through the REST API (801006)")
    func forbiddenAdmin() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice"])
            try await server.registerAdmin("admin1")
            #expect(try await server.put("/v1/users/admin1/forbidden?disable=true", nil).status == .noContent)
            let reply = try await server.post("/v1/messages", json: Messages.text(from: "admin1", to: "alice", "hi"))
            expectError(reply, status: .badRequest, code: 801006)
            #expect(try await server.messages(of: "alice").isEmpty)
        }
    }

    @Test("cross-app single messages: allowed by the target app's cross_app list, else 899020")
    func crossAppSingle() async throws {
        // The main app accepts the other app; the other app accepts nobody.
        try await withServer(apps: [SocialApps.main(crossApp: [Apps.otherAppKey]), SocialApps.other()]) { server in
            try await server.registerUsers(["alice"])
            try await server.registerAdmin("admin1")
            try await server.registerUsers(["zed1"], as: .other)
            try await server.registerAdmin("admin9", as: .other)

            try await server.userSends("from afar", from: "zed1", fromAppKey: Apps.otherAppKey, to: "alice",
                                       targetAppKey: Apps.appKey)
            let got = try await server.messages(of: "alice")
            #expect(got.count == 1)
            #expect(got.first?.message.message.fromAppKey == Apps.otherAppKey)
            await expectHubError(899020) {
                try await server.userSends("back", from: "alice", to: "zed1", targetAppKey: Apps.otherAppKey)
            }
            #expect(try await server.messages(of: "zed1", appKey: Apps.otherAppKey).isEmpty)

            // Through the REST API: the admin of the other app reaches alice; the main app's admin cannot reach zed1.
            let toAlice = setting("target_appkey", to: .string(Apps.appKey),
                                  in: Messages.text(from: "admin9", to: "alice", "admin from afar"))
            let ok = try await server.post("/v1/messages", json: toAlice, as: .other)
            #expect(ok.status == .created, "\(ok)")
            let toZed = setting("target_appkey", to: .string(Apps.otherAppKey),
                                in: Messages.text(from: "admin1", to: "zed1", "hello"))
            expectError(try await server.post("/v1/messages", json: toZed), status: .forbidden, code: 899020)
            let nowhere = setting("target_appkey", to: "no-such-app", in: Messages.text(from: "admin1", to: "zed1", "x"))
            let missing = try await server.post("/v1/messages", json: nowhere)
            #expect(missing.status != .internalServerError, "\(missing)")
            #expect(try missing.json()["error"]?["code"]?.intValue == 899009)
            #expect(try await server.messages(of: "alice").count == 2)
        }
    }

    @Test("cross-app group members receive the group's messages and may send to it")
    func crossAppGroup() async throws {
        try await withServer(apps: [SocialApps.main(crossApp: [Apps.otherAppKey]),
                                    SocialApps.other(crossApp: [Apps.appKey])]) { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.registerUsers(["zed1"], as: .other)
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let add = #"[{"appkey":"\#(Apps.otherAppKey)","add":["zed1"]}]"#
            #expect(try await server.post("/v1/cross/groups/\(gid)/members", add).status == .noContent)

            try await server.userSends("hello all", from: "alice", to: String(gid), type: .group)
            #expect(try await server.messages(of: "zed1", appKey: Apps.otherAppKey).count == 1)
            try await server.userSends("hi from afar", from: "zed1", fromAppKey: Apps.otherAppKey, to: String(gid),
                                       type: .group, targetAppKey: Apps.appKey)
            #expect(try await server.messages(of: "alice").map(\.message.message.body) == [.text("hi from afar")])
            #expect(try await server.messages(of: "bobby").count == 2)
            // Without target_appkey the gid is looked up in zed1's own app, where it does not exist.
            await expectHubError(899006) {
                try await server.userSends("lost", from: "zed1", fromAppKey: Apps.otherAppKey, to: String(gid), type: .group)
            }
        }
    }

    @Test("a group shield stops a member's group deliveries only")
    func groupShield() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            #expect(try await server.post("/v1/users/bobby/groupsShield", #"{"add":[\#(gid)]}"#).status == .noContent)
            try await server.userSends("group", from: "alice", to: String(gid), type: .group)
            try await server.userSends("direct", from: "alice", to: "bobby")
            #expect(try await server.messages(of: "bobby").map(\.message.message.body) == [.text("direct")])
        }
    }

    @Test("no_notification on POST /v1/messages and no-disturb both mark deliveries; others notify")
    func noNotification() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            try await server.registerAdmin("admin1")
            let quiet = setting("no_notification", to: true, in: Messages.text(from: "admin1", to: "alice", "shh"))
            #expect(try await server.post("/v1/messages", json: quiet).status == .created)
            try await server.sendText(from: "admin1", to: "alice", "loud")
            #expect(try await server.post("/v1/users/alice/nodisturb", #"{"single":{"add":["admin1"]}}"#).status
                    == .noContent)
            try await server.sendText(from: "admin1", to: "alice", "muted by alice")
            try await server.sendText(from: "admin1", to: "bobby", "loud for bobby")
            #expect(try await server.messages(of: "alice").map(\.isQuiet) == [true, false, true])
            #expect(try await server.messages(of: "bobby").map(\.isQuiet) == [false])
        }
    }
}

/// Group fan-out through POST /v1/messages.
@Suite struct GroupFanOutAPITests {
    @Test("every member's inbox gets one entry; the sender's only when it has two devices")
    func fanOut() async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby", "carol"])
            try await server.registerAdmin("admin1")
            let gid = try await server.createGroup(owner: "alice", members: ["bobby", "carol"])
            let body: JSONValue = [
                "version": 1, "target_type": "group", "target_id": .string(String(gid)), "from_type": "admin",
                "from_id": "admin1", "msg_type": "text", "msg_body": ["text": "to the group"],
            ]
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
            let id = try #require(try reply.json()["msg_id"]?.intValue)
            for name in ["alice", "bobby", "carol"] {
                #expect(try await server.messages(of: name).map(\.message.msgID) == [id], "\(name)")
            }
            #expect(try await server.messages(of: "admin1").isEmpty)

            // A member sending: not to itself with one device, to itself (quietly) with two.
            let alice = try await server.user("alice")
            _ = try await server.hub.sessionOpened(alice, device: "phone", platform: "android")
            let first = try await server.userSends("one device", from: "alice", to: String(gid), type: .group)
            #expect(try await server.messages(of: "alice").map(\.message.msgID) == [id])
            _ = try await server.hub.sessionOpened(alice, device: "laptop", platform: "web")
            let second = try await server.userSends("two devices", from: "alice", to: String(gid), type: .group)
            let mine = try await server.messages(of: "alice")
            #expect(mine.map(\.message.msgID) == [id, second.msgID])
            #expect(mine.last?.isQuiet == true)
            #expect(try await server.messages(of: "bobby").map(\.message.msgID) == [id, first.msgID, second.msgID])
        }
    }

    @Test("a 2,000-member group: exactly one entry, the message, in each member's inbox")
    func largeGroup() async throws {
        try await withServer(apps: [SocialApps.main(maxGroupMembers: 2000), SocialApps.other()]) { server in
            try await server.registerUsers(["owner1", "late1"])
            try await server.registerAdmin("admin1")
            let owner = try await server.user("owner1")
            let hash = try #require(try await server.hub.store.passwordHash(userID: owner.id))
            // Accounts and membership go straight to the store: through the API, each batch of additions stores a
            // group_members_added event naming up to 500 users in every member's inbox, which only slows the check.
            var members: [User] = [owner]
            for i in 0..<1999 {
                let inserted = try await server.hub.store.insertUser(
                    appKey: Apps.appKey, username: String(format: "member%04d", i), kind: .user, passwordHash: hash,
                    profile: Profile(), now: Hub.nowMillis())
                members.append(try #require(inserted))
            }
            let group = try await server.hub.store.createGroup(
                appKey: Apps.appKey, ownerID: owner.id, memberIDs: members.dropFirst().map(\.id), name: "crowd", desc: nil,
                avatar: nil, flag: 1, maxMembers: 2000, now: Hub.nowMillis())
            let listed = try #require(try await server.get("/v1/groups/\(group.gid)/members").json().arrayValue)
            #expect(listed.count == 2000)
            expectError(try await server.post("/v2/groups/\(group.gid)/addMembers", #"["late1"]"#), status: .badRequest,
                        code: 899012)

            let body: JSONValue = [
                "version": 1, "target_type": "group", "target_id": .string(String(group.gid)), "from_type": "admin",
                "from_id": "admin1", "msg_type": "text", "msg_body": ["text": "to two thousand"],
            ]
            let reply = try await server.post("/v1/messages", json: body)
            #expect(reply.status == .created, "\(reply)")
            let id = try #require(try reply.json()["msg_id"]?.intValue)
            var wrong: [String] = []
            for member in members {
                let inbox = try await server.hub.inbox(userID: member.id, after: 0)
                if inbox.map(\.message.msgID) != [id] { wrong.append(member.username) }
            }
            #expect(wrong.isEmpty, "\(wrong.count) inboxes differ, first: \(wrong.prefix(5))")
            #expect(try await server.messages(of: "late1").isEmpty)
            #expect(try await server.messages(of: "admin1").isEmpty)
        }
    }
}

/// Garbage bodies on every new endpoint: always a 4xx JMessage error, never a 500.
@Suite struct BadBodiesTests {
    static let bodies = ["", "null", "123", #""text""#, "{", "[", "[{}]", "{}", #"{"add":null,"remove":7}"#,
                         #"[null,[],{}]"#, #"{"username":{"x":1}}"#, "[1e999]", #"[-9223372036854775809]"#]

    @Test("each endpoint answers a bad body with a JMessage 4xx error", arguments: [
        ("PUT", "/v1/users/alice"), ("DELETE", "/v1/users"), ("PUT", "/v1/users/alice/password"),
        ("PUT", "/v1/users/alice/blacklist"), ("DELETE", "/v1/users/alice/blacklist"),
        ("POST", "/v1/users/alice/nodisturb"), ("POST", "/v1/users/alice/groupsShield"),
        ("POST", "/v1/users/alice/friends"), ("PUT", "/v1/users/alice/friends"), ("DELETE", "/v1/users/alice/friends"),
        ("PUT", "/v1/cross/users/alice/blacklist"), ("POST", "/v1/cross/users/alice/nodisturb"),
        ("POST", "/v1/cross/users/alice/friends"), ("POST", "/v1/groups"), ("PUT", "/v1/groups/GID"),
        ("POST", "/v1/groups/GID/members"), ("POST", "/v2/groups/GID/addMembers"), ("POST", "/v2/groups/GID/delMembers"),
        ("PUT", "/v1/groups/messages/GID/silence?status=true"), ("PUT", "/v1/groups/owner/GID"),
        ("POST", "/v1/cross/groups/GID/members"), ("POST", "/v1/chatroom"), ("POST", "/v1/chatroom/batch"),
        ("PUT", "/v1/chatroom/RID"), ("PUT", "/v1/chatroom/RID/members"), ("DELETE", "/v1/chatroom/RID/members"),
        ("POST", "/v1/sensitiveword"), ("PUT", "/v1/sensitiveword"), ("DELETE", "/v1/sensitiveword"),
        ("POST", "/v1/messages"),
    ])
    func badBodies(_ method: String, _ template: String) async throws {
        try await withServer { server in
            try await server.registerUsers(["alice", "bobby"])
            let gid = try await server.createGroup(owner: "alice", members: ["bobby"])
            let rid = try await server.createRoom(owner: "alice", members: ["bobby"])
            let path = template.replacingOccurrences(of: "GID", with: String(gid))
                .replacingOccurrences(of: "RID", with: String(rid))
            let m = HTTPRequest.Method(rawValue: method)!
            for body in Self.bodies {
                let reply = try await server.request(m, path, body: body)
                // `{}` is a valid, empty change for a few endpoints.
                if reply.status == .noContent || reply.status == .ok { continue }
                #expect((400..<500).contains(reply.status.code), "\(method) \(path) \(body): \(reply)")
                let code = try? reply.json()["error"]?["code"]?.intValue
                #expect(code != nil && code != 899000, "\(method) \(path) \(body): \(reply)")
            }
            // The group and the room are still there and unchanged in size.
            #expect(try await server.get("/v1/groups/\(gid)/members").json().arrayValue?.count == 2)
        }
    }
}
