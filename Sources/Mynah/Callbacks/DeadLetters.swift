import Foundation
import Hub
import HubPostgres

/// The dead letters of message routing and of push receipt callbacks, for `mynah callbacks list` and `mynah callbacks
/// replay`: they work on the data directory of a running or stopped daemon, or on a cluster's database (a running
/// daemon picks marked letters up within its poll interval).
public enum DeadLetters {
    /// One dead letter as the command line shows it.
    public struct Summary: Sendable, Equatable, CustomStringConvertible {
        /// Its id, for `replay --id`.
        public var id: Int64
        /// The app and URL it was for.
        public var destination: String
        /// The messages it carries: how many, and their msgid range.
        public var count: Int
        /// The lowest msgid in it.
        public var firstMsgID: Int64
        /// The highest msgid the batch covered.
        public var lastMsgID: Int64
        /// Failed attempts so far.
        public var attempts: Int
        /// The last failure.
        public var lastError: String
        /// Whether it is marked for replay.
        public var replay: Bool
        /// What it carries: `messages`, `events` (then the ids are event ids) or `receipt` (one push receipt report;
        /// the ids are the push's msg_id).
        public var kind: String
        /// Where a receipt report goes (`nil` for routing, whose URL is in `destination`).
        public var url: String?

        /// `id  destination  what (ids a-b)  attempts  last error`.
        public var description: String {
            let what = switch kind {
            case "events": "\(count) events (event_id \(firstMsgID)-\(lastMsgID))"
            case "receipt": "receipt of push \(firstMsgID) to \(url ?? "")"
            default: "\(count) messages (msgid \(firstMsgID)-\(lastMsgID))"
            }
            return "\(id)\t\(destination)\t\(what)\t\(attempts) attempts" + (replay ? "\treplay pending" : "")
                + "\t\(lastError)"
        }
    }

    /// The dead letters under `dataDirectory`, oldest first (none when routing never ran there).
    public static func list(dataDirectory: String) async throws -> [Summary] {
        guard FileManager.default.fileExists(atPath: CallbackOutbox.path(dataDirectory: dataDirectory)) else { return [] }
        return try await list(CallbackOutbox(dataDirectory: dataDirectory))
    }

    /// Marks dead letters for another delivery (every one when `ids` is empty); returns how many were marked.
    public static func replay(dataDirectory: String, ids: [Int64]) async throws -> Int {
        guard FileManager.default.fileExists(atPath: CallbackOutbox.path(dataDirectory: dataDirectory)) else { return 0 }
        return try await CallbackOutbox(dataDirectory: dataDirectory).markReplay(ids: ids)
    }

    /// The dead letters of the daemon `configuration` describes: its cluster's (`storage.postgres`) or its data
    /// directory's.
    public static func list(configuration: MynahConfiguration) async throws -> [Summary] {
        guard let settings = configuration.storage.postgres else {
            return try await list(dataDirectory: configuration.dataDirectory)
        }
        return try await PostgresStorage.withOpened(settings) { try await list(PostgresRoutingStore(database: $0)) }
    }

    /// Marks dead letters of the daemon `configuration` describes for another delivery (every one when `ids` is
    /// empty); whichever node routes sends them.
    public static func replay(configuration: MynahConfiguration, ids: [Int64]) async throws -> Int {
        guard let settings = configuration.storage.postgres else {
            return try await replay(dataDirectory: configuration.dataDirectory, ids: ids)
        }
        return try await PostgresStorage.withOpened(settings) { try await PostgresRoutingStore(database: $0).markReplay(ids: ids) }
    }

    static func list(_ store: any RoutingStore) async throws -> [Summary] {
        try await store.deadLetters().map {
            Summary(id: $0.id, destination: $0.destination, count: $0.count, firstMsgID: $0.firstMsgID,
                    lastMsgID: $0.lastMsgID, attempts: $0.attempts, lastError: $0.lastError, replay: $0.replay,
                    kind: $0.kind.rawValue, url: $0.url)
        }
    }
}
