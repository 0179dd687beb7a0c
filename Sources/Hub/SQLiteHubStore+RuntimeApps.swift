import Foundation
import GRDB

extension SQLiteHubStore: RuntimeAppStore {
    /// The apps created at run time (the console's "create an app"), in a table of their own so that `syncApps`
    /// of the configuration never touches them.
    static func registerRuntimeAppsMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("console: runtime apps") { db in
            try db.execute(sql: """
                CREATE TABLE runtime_app (
                    appkey TEXT PRIMARY KEY NOT NULL REFERENCES app(appkey),
                    master_secret TEXT NOT NULL,
                    name TEXT NOT NULL,
                    offline_messages INTEGER NOT NULL,
                    offline_ttl_ms INTEGER NOT NULL,
                    friend_mode INTEGER NOT NULL,
                    max_group_members INTEGER NOT NULL,
                    ctime INTEGER NOT NULL
                );
                """)
        }
    }

    /// Every app created at run time, oldest first.
    public func runtimeApps() async throws -> [AppSettings] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runtime_app ORDER BY ctime, appkey").map { row in
                let ttl: Int64 = row["offline_ttl_ms"]
                return AppSettings(appKey: row["appkey"], masterSecret: row["master_secret"], name: row["name"],
                                   offlineMessages: row["offline_messages"], offlineTTL: .milliseconds(ttl),
                                   friendMode: row["friend_mode"], maxGroupMembers: row["max_group_members"])
            }
        }
    }

    /// Stores a new app; false when its AppKey is already in the apps table.
    public func insertRuntimeApp(_ app: AppSettings, now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO app (appkey, name) VALUES (?, ?) ON CONFLICT(appkey) DO NOTHING",
                           arguments: [app.appKey, app.name])
            guard db.changesCount == 1 else { return false }
            let ttl = app.offlineTTL.components
            let ttlMillis = ttl.seconds * 1000 + ttl.attoseconds / 1_000_000_000_000_000
            try db.execute(
                sql: """
                    INSERT INTO runtime_app (appkey, master_secret, name, offline_messages, offline_ttl_ms, friend_mode,
                                             max_group_members, ctime)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [app.appKey, app.masterSecret, app.name, app.offlineMessages, ttlMillis, app.friendMode,
                            app.maxGroupMembers, now])
            return true
        }
    }
}
