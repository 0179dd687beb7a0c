import Foundation
import Hub
import IMClient
import IMProtocol
import Testing
@testable import Mynah

/// Several senders at once: the recipient's inbox is one gap-free sequence, and each sender's messages keep
/// the order in which that sender's sends were acknowledged.
@Suite struct ConcurrentSendersTests {
    @Test func concurrentSendersGiveOneOrderedInbox() async throws {
        try await Demo.withDaemon { daemon, port in
            let senders = ["alice", "carol", "dave_d"]
            for name in senders + ["bob_b"] { try await Demo.register(daemon, name, password: "pass-\(name)") }
            let bob = try await Demo.client(port: port, username: "bob_b", password: "pass-bob_b")
            let perSender = 40
            let acknowledged = try await withThrowingTaskGroup(of: (String, [Int64]).self) { group in
                for name in senders {
                    group.addTask {
                        let client = try await Demo.client(port: port, username: name, password: "pass-\(name)")
                        var ids: [Int64] = []
                        for i in 0..<perSender {
                            ids.append(try await client.send(.init(targetID: "bob_b", body: .text("\(name) \(i)"))).msgID)
                        }
                        client.close()
                        return (name, ids)
                    }
                }
                var all: [String: [Int64]] = [:]
                for try await (name, ids) in group { all[name] = ids }
                return all
            }
            var received: [String: [Int64]] = [:]
            var inbox = bob.messages.makeAsyncIterator()
            for seq in 1...Int64(senders.count * perSender) {
                let d = try #require(await inbox.next())
                #expect(d.seq == seq)
                received[d.stored.message.fromID, default: []].append(d.stored.msgID)
            }
            bob.close()
            #expect(received == acknowledged)
        }
    }
}
