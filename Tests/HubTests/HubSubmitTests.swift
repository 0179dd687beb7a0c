import Hub
import IMProtocol
import Synchronization
import Testing

/// `Hub.submit`: single-chat sends queued for the store's writer without waiting for their commit, as a gateway
/// connection sends them.
@Suite("Hub submit")
struct HubSubmitTests {
    @Test("sends submitted one after another are stored in that order; a refused one fails alone")
    func submittedSendsKeepTheirOrder() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let count = 60
            let outcomes = Mutex<[Int: Result<StoredMessage, HubError>]>([:])
            let (answered, answer) = AsyncStream.makeStream(of: Void.self)
            for i in 0..<count {
                // One of them goes to an account that does not exist.
                let target = i == 30 ? "nobody_here" : "bobby"
                await hub.submit(.init(targetID: target, body: .text("m\(i)")), from: alice, platform: "web") { result in
                    outcomes.withLock { $0[i] = result }
                    answer.yield()
                }
            }
            var answers = 0
            for await _ in answered {
                answers += 1
                if answers == count { break }
            }
            let all = outcomes.withLock { $0 }
            #expect(all.count == count)
            if case .failure(let error) = all[30] {
                #expect(error.code == .userNotFound)
            } else {
                Issue.record("the send to an unknown account was not refused: \(String(describing: all[30]))")
            }
            let stored = (0..<count).filter { $0 != 30 }.compactMap { try? all[$0]?.get() }
            #expect(stored.count == count - 1)
            // Ids ascend in submission order, and the inbox holds the messages in that order without a gap.
            #expect(stored.map(\.msgID) == stored.map(\.msgID).sorted())
            let inbox = try await hub.inbox(userID: bob.id, after: 0, limit: 100)
            #expect(inbox.map(\.seq) == Array(1...Int64(count - 1)))
            #expect(inbox.compactMap { $0.stored?.message.body.text } == (0..<count).filter { $0 != 30 }.map { "m\($0)" })
            #expect(inbox.compactMap { $0.stored?.msgID } == stored.map(\.msgID))
        }
    }

    @Test("a submitted send is published to the recipient after its commit, and send() still answers after it")
    func submittedSendsArePublished() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            var live = hub.bus.subscribe(userID: bob.id).makeAsyncIterator()
            let outcome = Mutex<Result<StoredMessage, HubError>?>(nil)
            let (answered, answer) = AsyncStream.makeStream(of: Void.self)
            await hub.submit(.init(targetID: "bobby", body: .text("first")), from: alice, platform: "web") { result in
                outcome.withLock { $0 = result }
                answer.yield()
            }
            for await _ in answered { break }
            let first = try #require(try outcome.withLock { $0 }?.get())
            let entry = try #require(await live.next())
            #expect(entry.seq == 1 && entry.stored == first)
            // The frame spliced from the stored bytes equals the full encoding of what was read back.
            let readBack = try #require(try await hub.inbox(userID: bob.id, after: 0).first)
            #expect(entry.frameJSON() == readBack.frameJSON())
            // SQLite's read splices the stored text, as the live path does, and it equals the full encoding.
            #expect(readBack.encoded != nil)
            #expect(readBack.frameJSON() == readBack.frame.json.serialized())
            let second = try await hub.sendText("second", from: alice, to: "bobby")
            #expect(try #require(await live.next()).stored == second)
        }
    }

    @Test("submitNow queues a single-chat send without suspending once the app's words are loaded, masked as ever")
    func submitNowQueuesWithoutSuspending() async throws {
        try await withHub { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            let outcomes = Mutex<[Result<StoredMessage, HubError>]>([])
            let (answered, answer) = AsyncStream.makeStream(of: Void.self)
            let done: @Sendable (Result<StoredMessage, HubError>) -> Void = { result in
                outcomes.withLock { $0.append(result) }
                answer.yield()
            }
            var answers = answered.makeAsyncIterator()
            // A text body needs the app's sensitive words, not loaded yet: nothing is done, the caller awaits.
            #expect(!hub.submitNow(.init(targetID: "bobby", body: .text("too early")), from: alice, platform: "web",
                                   done: done))
            // A group send always waits for its rules' reads.
            #expect(!hub.submitNow(.init(targetType: .group, targetID: "1", body: .text("to a group")), from: alice,
                                   platform: "web", done: done))
            // Another body needs no words.
            #expect(hub.submitNow(.init(targetID: "bobby", body: .custom(["k": .string("v")])), from: alice,
                                  platform: "web", done: done))
            _ = await answers.next()
            try await hub.addSensitiveWords(appKey: TestApps.a.appKey, ["darn"])
            try await hub.setSensitiveFilter(appKey: TestApps.a.appKey, true)
            _ = try await hub.sensitiveFilter(appKey: TestApps.a.appKey)
            #expect(hub.submitNow(.init(targetID: "bobby", body: .text("oh darn")), from: alice, platform: "web",
                                  done: done))
            _ = await answers.next()
            // Refused by the writer's rules: answered with the error.
            #expect(hub.submitNow(.init(targetID: "nobody_here", body: .text("hello")), from: alice, platform: "web",
                                  done: done))
            _ = await answers.next()
            // The list changed, so the cache was dropped: the next text send waits for the words again.
            try await hub.addSensitiveWords(appKey: TestApps.a.appKey, ["heck"])
            #expect(!hub.submitNow(.init(targetID: "bobby", body: .text("later")), from: alice, platform: "web",
                                   done: done))
            // A long list is masked in the caller's task, not on its event loop.
            try await hub.addSensitiveWords(appKey: TestApps.a.appKey, (0..<40).map { "w\($0)" })
            _ = try await hub.sensitiveFilter(appKey: TestApps.a.appKey)
            #expect(!hub.submitNow(.init(targetID: "bobby", body: .text("later")), from: alice, platform: "web",
                                   done: done))
            let all = outcomes.withLock { $0 }
            #expect(all.count == 3)
            #expect(throws: HubError.self) { try all[2].get() }
            let inbox = try await hub.inbox(userID: bob.id, after: 0, limit: 10)
            #expect(inbox.compactMap { $0.stored?.message.body.text } == ["oh ****"])
            #expect(inbox.count == 2)
            #expect(inbox.compactMap { $0.stored?.msgID } == [try all[0].get().msgID, try all[1].get().msgID])
        }
    }

    @Test("a store that cannot take a send synchronously (PostgreSQL) makes submitNow decline, doing nothing")
    func submitNowDeclinesOnPostgres() async throws {
        try await withHub(.postgres) { hub, _ in
            let alice = try await hub.make("alice")
            let bob = try await hub.make("bobby")
            _ = try await hub.sensitiveFilter(appKey: TestApps.a.appKey)
            let called = Mutex(false)
            #expect(!hub.submitNow(.init(targetID: "bobby", body: .text("hello")), from: alice, platform: "web") { _ in
                called.withLock { $0 = true }
            })
            // Not even a refusal before the store is answered here.
            #expect(!hub.submitNow(.init(targetID: "bobby", targetAppKey: "no_such_app", body: .text("hello")),
                                   from: alice, platform: "web") { _ in called.withLock { $0 = true } })
            #expect(!called.withLock { $0 })
            #expect(try await hub.inbox(userID: bob.id, after: 0, limit: 10).isEmpty)
        }
    }
}
