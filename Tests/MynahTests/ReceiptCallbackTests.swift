import Bridge
import Foundation
import IMClient
import IMProtocol
import Testing
@testable import Mynah

/// JPush receipt callbacks of bridged pushes (`callback: {url, params, type}`), reported to a receiver on loopback.
@Suite struct ReceiptCallbackTests {
    @Test func acceptedAndDeliveredAreReportedWithTheirParams() async throws {
        let receiver = RoutingReceiver()
        try await receiver.run { rport in
            try await Demo.withDaemon(configure: { BridgeDemo.configure(&$0) }) { daemon, port in
                let log = ReceivedLog(receiver)
                try await Demo.register(daemon, "alice", password: "alice-pass")
                try await Demo.register(daemon, "bob_b", password: "bob-pass")
                try await BridgeDemo.bind(port, device: "rid-phone-1", alias: "uid_alice")
                guard case .object(var push) = BridgeDemo.alert("your order shipped", aliases: ["uid_alice"]) else { return }
                push["callback"] = ["url": .string("http://127.0.0.1:\(rport)/hook"), "params": ["order": "42"], "type": 9]
                let msgID = try await BridgeDemo.push(port, .object(push))

                let accepted = try JSONValue.parse(try await log.next().body)
                #expect(accepted["type"]?.intValue == 8)
                #expect(accepted["msg_id"]?.stringValue == String(msgID))
                #expect(accepted["params"] == ["order": "42"])

                // Alice logs in and acknowledges the bridged message: "delivered" follows.
                let alice = try await Demo.client(port: port, username: "alice", password: "alice-pass", device: "phone-1")
                let delivery = try await alice.messages.first()
                #expect(delivery.stored.message.body.text == "your order shipped")
                try await BridgeDemo.acknowledge(alice, delivery.seq, to: "bob_b")
                let request = try await log.next()
                let delivered = try JSONValue.parse(request.body)
                alice.close()
                #expect(request.authorization == Demo.basic)
                #expect(delivered["type"]?.intValue == 1)
                #expect(delivered["msg_id"]?.stringValue == String(msgID))
                #expect(delivered["username"]?.stringValue == "alice" && delivered["alias"]?.stringValue == "uid_alice")
                #expect(delivered["params"] == ["order": "42"])
            }
        }
    }

    @Test(arguments: [
        (#"{"url":"ftp://x"}"#, "callback.url"),
        (#"{"url":"http://x/h","type":4}"#, "callback.type"),
        (#"{"url":"http://x/h","params":[1]}"#, "callback.params"),
        (#"{"url":"http://x/h","extra":1}"#, "callback.extra"),
    ])
    func badCallbacksAreRefusedNamingTheirField(callback: String, field: String) throws {
        #expect(throws: BridgeError.self) { try ReceiptCallback.read(try JSONValue.parse(callback)) }
        do {
            _ = try ReceiptCallback.read(try JSONValue.parse(callback))
        } catch let error as BridgeError {
            #expect("\(error)".contains(field), "\(error)")
        }
    }
}
