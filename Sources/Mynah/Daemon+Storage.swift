import BotKit
import Bridge
import Foundation
import Hub
import HubPostgres
import Logging

extension Daemon {
    /// The stores a node runs on, picked by `storage:`: SQLite files under `data_dir`, or one PostgreSQL pool
    /// shared by the hub's, the bridge's and the plugins' stores.
    struct Storage: Sendable {
        /// The hub's store.
        var hub: any HubStore
        /// The pool, when the node runs on PostgreSQL (`nil` on SQLite).
        var postgres: PostgresStorage?
        /// The cluster's bus and presence registry on PostgreSQL (`nil` on SQLite: the in-process ones).
        var cluster: PostgresCluster?

        /// The inbox notification bus: the cluster's on PostgreSQL, the in-process one on SQLite.
        var bus: any InboxNotificationBus { cluster ?? InboxBus() }
        /// The presence registry: the cluster's on PostgreSQL, the in-process one on SQLite.
        var presence: any PresenceRegistry { cluster ?? Presence() }

        /// The bridge's store on the pool, or `nil` on SQLite (the bridge opens its file itself).
        var bridge: (any BridgeStore)? { postgres.map { PostgresBridgeStore(database: $0) } }
        /// The plugins' store on the pool, or `nil` on SQLite.
        var plugins: (any PluginStorage)? { postgres.map { PostgresPluginStorage(database: $0) } }
    }

    /// Opens the configured storage; a database that cannot be reached is a `ConfigurationError` naming where the
    /// node tried and why it failed, so `mynah` says so and exits non-zero.
    static func openStorage(_ configuration: MynahConfiguration, logger: Logger) async throws -> Storage {
        if let settings = configuration.storage.postgres {
            do {
                let database = try await PostgresStorage.open(settings, logger: logger)
                let cluster: PostgresCluster
                do {
                    cluster = try await PostgresCluster.start(database: database, logger: logger)
                } catch {
                    await database.close()
                    throw error
                }
                return Storage(hub: PostgresHubStore(database: database), postgres: database, cluster: cluster)
            } catch let error as PostgresUnreachable {
                throw ConfigurationError(location: configuration.storage.location, path: "storage.postgres.url",
                                         message: error.description)
            } catch {
                throw ConfigurationError(
                    location: configuration.storage.location, path: "storage.postgres.url",
                    message: "cannot prepare PostgreSQL at \(settings.endpoint) (database '\(settings.database)'): "
                        + PostgresStorage.reason(error))
            }
        }
        let databasePath = (configuration.dataDirectory as NSString).appendingPathComponent("mynah.sqlite")
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            return Storage(hub: try SQLiteHubStore(path: databasePath), postgres: nil)
        } catch {
            throw ConfigurationError(location: nil, path: "data_dir",
                                     message: "cannot open the database '\(databasePath)': \(error.localizedDescription)")
        }
    }
}
