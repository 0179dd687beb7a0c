import Foundation
import GRDB
import Hub
import IMProtocol
import Testing

/// Group fan-out and group cleanup, at the hub level.
@Suite struct GroupFanOutTests {
    /// The message entries of an account's inbox.
    func messages(_ hub: Hub, _ user: User) async throws -> [InboxEntry] {
        try await hub.inbox(userID: user.id, after: 0).filter { $0.stored != nil }
    }

    @Test("a group message reaches every member once, except the sender and shielded members; quiet ones unnotified", arguments: Backend.allCases)
    func fanOut(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let owner = try await hub.make("owner1")
            let plain = try await hub.make("plain1")
            let shielded = try await hub.make("shield1")
            let quiet = try await hub.make("quiet1")
            let outsider = try await hub.make("outsider1")
            let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                owner: "owner1", name: "g", members: ["plain1", "shield1", "quiet1", "owner1"]))
            try await hub.changeGroupShield(shielded, add: [group.gid], remove: [])
            try await hub.changeNoDisturb(quiet, Hub.NoDisturbChange(addGroups: [group.gid]))

            let sent = try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("hi")),
                                          from: plain, platform: "web")
            #expect(try await messages(hub, owner).map(\.message.msgID) == [sent.msgID])
            #expect(try await messages(hub, owner).map(\.frame) == [
                .message(.init(seq: 2, stored: sent, noNotification: false)),
            ])
            #expect(try await messages(hub, quiet).first?.frame == .message(.init(seq: 2, stored: sent, noNotification: true)))
            #expect(try await messages(hub, plain).isEmpty)
            #expect(try await messages(hub, shielded).isEmpty)
            #expect(try await messages(hub, outsider).isEmpty)
            #expect(sent.message.targetName == "g")
        }
    }

    @Test("published group entries share one serialized message; each spliced frame equals the frame encoded in full", arguments: Backend.allCases)
    func publishedEntriesSpliceTheirFrames(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let owner = try await hub.make("owner1")
            let plain = try await hub.make("plain1")
            let quiet = try await hub.make("quiet1")
            let group = try await hub.createGroup(appKey: TestApps.a.appKey, NewGroup(
                owner: "owner1", name: "g", members: ["plain1", "quiet1", "owner1"]))
            try await hub.changeNoDisturb(quiet, Hub.NoDisturbChange(addGroups: [group.gid]))
            let streams = [owner, quiet].map { hub.bus.subscribe(userID: $0.id) }
            _ = try await hub.send(.init(targetType: .group, targetID: String(group.gid), body: .text("hi \"there\"")),
                                   from: plain, platform: "web")
            var published: [InboxEntry] = []
            for stream in streams {
                for await entry in stream where entry.stored != nil {
                    published.append(entry)
                    break
                }
            }
            #expect(published.count == 2)
            #expect(published[0].encoded != nil && published[0].encoded == published[1].encoded)
            for entry in published {
                #expect(entry.frameJSON() == entry.frame.json.serialized())
            }
            // The stored copies (read back without the cache) are equal entries with the same frames.
            let stored = [try await messages(hub, owner), try await messages(hub, quiet)].compactMap(\.last)
            #expect(stored == published)
            #expect(stored.map { $0.frameJSON() } == published.map { $0.frameJSON() })
            for entry in stored { #expect(entry.frameJSON() == entry.frame.json.serialized()) }
        }
    }

    @Test("deleting a group's owner passes the group to the member who joined first; a lone owner's group goes", arguments: Backend.allCases)
    func deletingOwners(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            _ = try await hub.make("owner1")
            let heir = try await hub.make("heir1")
            _ = try await hub.make("later1")
            _ = try await hub.make("alone1")
            let app = TestApps.a.appKey
            let shared = try await hub.createGroup(appKey: app, NewGroup(owner: "owner1", name: "shared", members: ["heir1"]))
            try await hub.changeMembers(appKey: app, gid: shared.gid, add: ["later1"], remove: [])
            let lonely = try await hub.createGroup(appKey: app, NewGroup(owner: "alone1", name: "lonely"))

            try await hub.deleteUsers(appKey: app, usernames: ["owner1", "alone1"])
            let after = try await hub.group(appKey: app, gid: shared.gid)
            #expect(after.ownerUsername == "heir1")
            #expect(try await hub.members(appKey: app, gid: shared.gid).map(\.user.username) == ["heir1", "later1"])
            let gone = await #expect(throws: HubError.self) { try await hub.group(appKey: app, gid: lonely.gid) }
            #expect(gone?.code == .groupIDNotFound)
            #expect(try await hub.groups(of: heir).map(\.gid) == [shared.gid])
            let missing = await #expect(throws: HubError.self) { try await hub.user(appKey: app, username: "owner1") }
            #expect(missing?.code == .userNotFound)
        }
    }

    @Test("deleting a group drops its members' shields and no-disturb settings with it")
    func deleteGroupCleansUp() async throws {
        try await withHub { hub, sandbox in
            _ = try await hub.make("owner1")
            let member = try await hub.make("member1")
            let app = TestApps.a.appKey
            let group = try await hub.createGroup(appKey: app, NewGroup(owner: "owner1", name: "g", members: ["member1"]))
            try await hub.changeGroupShield(member, add: [group.gid], remove: [])
            try await hub.changeNoDisturb(member, Hub.NoDisturbChange(addGroups: [group.gid]))
            try await hub.deleteGroup(appKey: app, gid: group.gid)
            let leftovers = try sandbox.readDatabase { db in
                try Int.fetchOne(db, sql: """
                    SELECT (SELECT COUNT(*) FROM group_member) + (SELECT COUNT(*) FROM group_shield)
                        + (SELECT COUNT(*) FROM nodisturb WHERE kind = 'group')
                    """) ?? -1
            }
            #expect(leftovers == 0)
            #expect(try await hub.groups(of: member).isEmpty)
        }
    }
}
