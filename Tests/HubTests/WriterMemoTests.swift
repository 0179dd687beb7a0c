import Hub
import IMProtocol
import Testing

/// The SQLite writer's memory of the rules' inputs and the inbox heads (`WriterMemo`): every change to what a
/// send read before is seen by the next send, whichever call made it.
@Suite("Writer memo")
struct WriterMemoTests {
    /// The code a send fails with, or nil when it is stored.
    private func refusal(_ hub: Hub, _ text: String, from sender: User, to target: String) async -> ErrorCode? {
        do {
            _ = try await hub.sendText(text, from: sender, to: target)
            return nil
        } catch {
            return (error as? HubError)?.code
        }
    }

    @Test("a blacklist, a forbidden flag and a deletion made after a send apply to the next send")
    func ruleChangesReachTheNextSend() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            #expect(await refusal(hub, "1", from: alice, to: "bobby") == nil)

            try await hub.addToBlacklist(bob, usernames: ["alice"])
            #expect(await refusal(hub, "2", from: alice, to: "bobby") == .senderBlacklisted)
            try await hub.removeFromBlacklist(bob, usernames: ["alice"])
            #expect(await refusal(hub, "3", from: alice, to: "bobby") == nil)

            try await hub.setForbidden(appKey: TestApps.a.appKey, username: "alice", true)
            #expect(await refusal(hub, "4", from: alice, to: "bobby") == .userForbidden)
            try await hub.setForbidden(appKey: TestApps.a.appKey, username: "alice", false)
            #expect(await refusal(hub, "5", from: alice, to: "bobby") == nil)

            try await hub.deleteUsers(appKey: TestApps.a.appKey, usernames: ["bobby"])
            #expect(await refusal(hub, "6", from: alice, to: "bobby") == .userNotFound)
            // A new account under the name is a new recipient, not the deleted one remembered.
            let again = try await hub.make("bobby")
            let stored = try await hub.sendText("7", from: alice, to: "bobby")
            let inbox = try await hub.inbox(userID: again.id, after: 0)
            #expect(inbox.map(\.seq) == [1])
            #expect(inbox.first.flatMap { if case .message(let m, _) = $0.payload { m.msgID } else { nil } } == stored.msgID)
        }
    }

    @Test("no-disturb and a profile change made after a send apply to the next send")
    func relationAndProfileChangesReachTheNextSend() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            _ = try await hub.sendText("1", from: alice, to: "bobby")
            try await hub.changeNoDisturb(bob, .init(addSingles: ["alice"]))
            _ = try await hub.sendText("2", from: alice, to: "bobby")
            try await hub.changeNoDisturb(bob, .init(removeSingles: ["alice"]))
            _ = try await hub.sendText("3", from: alice, to: "bobby")
            let quiet = try await hub.inbox(userID: bob.id, after: 0).map { entry -> Bool in
                if case .message(_, let quiet) = entry.payload { return quiet }
                return false
            }
            #expect(quiet == [false, true, false])

            _ = try await hub.updateUser(appKey: TestApps.a.appKey, username: "bobby", patch: Profile(nickname: "Bob"))
            let renamed = try await hub.sendText("4", from: alice, to: "bobby")
            #expect(renamed.message.targetName == "Bob")
        }
    }

    @Test("an inbox event written between two sends takes its own seq; the next message follows it")
    func eventsBetweenSendsKeepTheSequence() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let first = try await hub.sendText("1", from: alice, to: "bobby")
            // The retraction writes an event into bob's inbox (and alice's), outside the writer's appends.
            try await hub.retract(appKey: TestApps.a.appKey, username: "alice", msgID: first.msgID)
            _ = try await hub.sendText("2", from: alice, to: "bobby")
            _ = try await hub.sendText("3", from: alice, to: "bobby")
            let entries = try await hub.inbox(userID: bob.id, after: 0)
            // The retracted message left the inbox; its event and the two later messages follow in order.
            #expect(entries.map(\.seq) == [2, 3, 4])
            if case .event(let event) = entries.first?.payload {
                #expect(event.kind == .messageRetracted)
            } else {
                Issue.record("the first entry is not the retraction: \(String(describing: entries.first))")
            }
        }
    }

    @Test("a repeated request id returns the first message and stores nothing, also after the memo knows the pair")
    func repeatedRequestIDsAreNotStoredTwice() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let first = try await hub.sendText("once", from: alice, to: "bobby", requestID: "r-1")
            let again = try await hub.sendText("once", from: alice, to: "bobby", requestID: "r-1")
            let next = try await hub.sendText("twice", from: alice, to: "bobby", requestID: "r-2")
            #expect(again.msgID == first.msgID)
            #expect(next.msgID > first.msgID)
            #expect(try await hub.inbox(userID: bob.id, after: 0).map(\.seq) == [1, 2])
        }
    }

    @Test("writes committed by another connection to the file (another process) are seen by the next send")
    func writesOfAnotherConnectionAreSeen() async throws {
        try await Sandbox.with { sandbox in
            let first = try await sandbox.openHub()
            let alice = try await first.make("alice")
            let bob = try await first.make("bobby")
            _ = try await first.sendText("1", from: alice, to: "bobby")
            // A second hub on the same file stands for another process: none of its statements pass through the
            // first hub's writer connection.
            let second = try await sandbox.openHub()
            try await second.addToBlacklist(bob, usernames: ["alice"])
            #expect(await refusal(first, "2", from: alice, to: "bobby") == .senderBlacklisted)
            try await second.removeFromBlacklist(bob, usernames: ["alice"])
            _ = try await second.sendText("3", from: alice, to: "bobby")
            // The first hub's next entry for bob follows the second hub's, not the head it remembered.
            _ = try await first.sendText("4", from: alice, to: "bobby")
            #expect(try await first.inbox(userID: bob.id, after: 0).map(\.seq) == [1, 2, 3])
        }
    }

    @Test("a hub reopened on the same file continues every inbox after its head")
    func reopenedStoresContinueTheHeads() async throws {
        try await Sandbox.with { sandbox in
            let bobID: Int64
            do {
                let hub = try await sandbox.openHub()
                let alice = try await hub.make("alice")
                bobID = try await hub.make("bobby").id
                for i in 0..<3 { _ = try await hub.sendText("\(i)", from: alice, to: "bobby") }
            }
            let hub = try await sandbox.openHub()
            let alice = try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "password1")
            _ = try await hub.sendText("after", from: alice, to: "bobby")
            #expect(try await hub.inbox(userID: bobID, after: 0).map(\.seq) == [1, 2, 3, 4])
        }
    }
}
