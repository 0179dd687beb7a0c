import Foundation
import Hub
import IMProtocol
import Mynah
import MynahTesting
import Server
import Testing

/// A logged-in connection's frames are handled on the event loop that read them while nothing waits before them,
/// and by the connection's task once something does (an answer's place, the send window): either way every frame
/// is answered in the order it came, and the sends are stored in that order.
@Suite struct GatewayFrameOrderTests {
    /// What the client expects for each frame it wrote: `sent`, `pong` or `error`, with the frame's id.
    enum Expected: Equatable, CustomStringConvertible {
        case sent(String), pong(String), error

        var description: String {
            switch self {
            case .sent(let id): "sent \(id)"
            case .pong(let id): "pong \(id)"
            case .error: "error"
            }
        }

        /// The answer's kind and id, read from its text.
        init?(answer text: String) throws {
            guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                return nil
            }
            switch object["op"] as? String {
            case "sent": self = .sent(object["id"] as? String ?? "")
            case "pong": self = .pong(object["id"] as? String ?? "")
            case "error": self = .error
            default: return nil
            }
        }
    }

    /// With `wordsLoaded` false the first send waits in the connection's task for the app's sensitive words, and
    /// the frames after it queue behind it (a frame handled on the event loop meanwhile would overtake it).
    @Test(arguments: [1, 2, 64], [false, true])
    func framesWrittenAtOnceAreAnsweredAndStoredInTheirOrder(sendsInFlight: Int, wordsLoaded: Bool) async throws {
        let options = Daemon.Options(passwordCost: 4, gateway: .init(sendsInFlight: sendsInFlight))
        try await Demo.withDaemon(options: options) { daemon, port in
            let socket = try await WebSocketFramingTests.aliceToBob(daemon, port: port)
            // With the app's sensitive words loaded, the first send is queued for the writer on the event loop.
            if wordsLoaded { _ = try await daemon.hub.sensitiveFilter(appKey: Demo.appKey) }
            // Sends, pings, text that is not JSON and binary frames, mixed, in one write: with a small window a frame soon finds
            // no place for its answer (the sends before it are not stored yet), waits in the connection's task, and
            // the frames after it queue behind it.
            var bytes: [UInt8] = []
            var expected: [Expected] = []
            var texts: [String] = []
            for i in 1...40 {
                switch i % 7 {
                case 3:
                    bytes += Array(#"{"op":"ping","id":"p\#(i)"}"#.utf8)
                        .framed()
                    expected.append(.pong("p\(i)"))
                case 5:
                    bytes += Array("not json \(i)".utf8).framed()
                    expected.append(.error)
                case 6 where i % 2 == 0:
                    bytes += RawWebSocket.frame(opcode: 0x2, payload: [0, 1, 2])
                    expected.append(.error)
                default:
                    bytes += WebSocketFramingTests.send(id: "s\(i)", text: "m\(i)").framed()
                    expected.append(.sent("s\(i)"))
                    texts.append("m\(i)")
                }
            }
            try await socket.socket.write(bytes)
            var answers: [Expected] = []
            while answers.count < expected.count, let frame = try await socket.next() {
                if let answer = try Expected(answer: frame.text) { answers.append(answer) }
            }
            #expect(answers == expected)
            let bob = try await daemon.hub.user(appKey: Demo.appKey, username: "bob_b")
            let inbox = try await daemon.hub.inbox(userID: bob.id, after: 0, limit: 100)
            #expect(inbox.map { $0.stored?.message.body.text ?? "" } == texts)
            #expect(inbox.map(\.seq) == Array(1...Int64(texts.count)))
            let samples = try await MetricsTests.scrape(port).samples
            let onEventLoop = samples[#"mynah_gateway_frames_total{handled="event_loop"}"#, default: 0]
            let inTask = samples[#"mynah_gateway_frames_total{handled="task"}"#, default: 0]
            #expect(onEventLoop + inTask == Double(expected.count))
            if wordsLoaded, sendsInFlight <= 2 {
                // Both paths were taken.
                #expect(onEventLoop >= 1 && inTask >= 1, "event loop \(onEventLoop), task \(inTask)")
            }
        }
    }
}

extension GatewayFrameOrderTests {
    @Test func framesAreCountedByWhereTheyWereHandledAndFramesOneAtATimeAreHandledOnTheEventLoop() async throws {
        try await Demo.withDaemon { daemon, port in
            let socket = try await WebSocketFramingTests.aliceToBob(daemon, port: port)
            // One frame at a time, each after the answer to the one before: nothing waits before a frame, so (once
            // the connection's task is done with the login) it is handled on the event loop that read it. The first
            // text send waits in the task for the app's sensitive words; every send after it is stored and answered
            // long after that task is done.
            let pings = 20, sends = 5
            for i in 0..<pings {
                try await socket.send(text: #"{"op":"ping","id":"p\#(i)"}"#)
                #expect(try #require(try await socket.next()).text.contains(#""id":"p\#(i)""#))
            }
            for i in 0..<sends {
                try await socket.send(opcode: 0x1, payload: WebSocketFramingTests.send(id: "s\(i)", text: "m\(i)"))
                #expect(try #require(try await socket.next()).text.contains(#""op":"sent""#))
            }
            let samples = try await MetricsTests.scrape(port).samples
            let onEventLoop = samples[#"mynah_gateway_frames_total{handled="event_loop"}"#, default: 0]
            let inTask = samples[#"mynah_gateway_frames_total{handled="task"}"#, default: 0]
            #expect(onEventLoop + inTask == Double(pings + sends))
            #expect(onEventLoop >= Double(sends - 1), "event loop \(onEventLoop), task \(inTask)")
        }
    }
}

extension [UInt8] {
    /// These bytes as one masked, final text frame.
    fileprivate func framed() -> [UInt8] {
        RawWebSocket.frame(opcode: 0x1, payload: self)
    }
}
