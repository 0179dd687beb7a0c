import Foundation
import Hub
import IMClient
import IMProtocol
import Server
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

extension ConcurrentSendersTests {
    @Test func aGatewayWideBudgetOfOneSendStillStoresEverySendOfEveryConnection() async throws {
        let options = Daemon.Options(passwordCost: 4, gateway: .init(sendsInFlightTotal: 1))
        try await Demo.withDaemon(options: options) { daemon, port in
            for name in ["alice", "bob_b", "carol"] { try await Demo.register(daemon, name, password: "\(name)-pass") }
            let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass")
            let bob = try await Demo.client(port: port, username: "bob_b", password: "bob_b-pass")
            let carol = try await Demo.client(port: port, username: "carol", password: "carol-pass")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (client, name) in [(alice, "alice"), (bob, "bob_b")] {
                    for i in 0..<20 {
                        group.addTask { _ = try await client.send(.init(targetID: "carol", body: .text("\(name) \(i)"))) }
                    }
                }
                try await group.waitForAll()
            }
            var inbox = carol.messages.makeAsyncIterator()
            var seen: [String: [String]] = [:]
            for _ in 0..<40 {
                let m = try #require(await inbox.next()).stored.message
                seen[m.fromID, default: []].append(m.body.text ?? "")
            }
            #expect(seen["alice"]?.count == 20 && seen["bob_b"]?.count == 20)
        }
    }
}
