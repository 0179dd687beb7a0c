import Foundation
import GRDB
import IMProtocol

extension SQLiteHubStore {
    /// Groups, chatrooms, friends, blacklists, no-disturb, shields, sensitive words, retraction and inbox events.
    static func registerSocialMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4: groups, relations, chatrooms, moderation, events") { db in
            try db.execute(sql: """
                ALTER TABLE user ADD COLUMN forbidden INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE message ADD COLUMN retracted INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE inbox ADD COLUMN event BLOB;
                ALTER TABLE inbox ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX inbox_msg ON inbox(msg_id) WHERE msg_id > 0;
                CREATE TABLE grp (
                    gid INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL,
                    name TEXT NOT NULL,
                    desc TEXT,
                    avatar TEXT,
                    flag INTEGER NOT NULL,
                    owner_id INTEGER NOT NULL,
                    max_members INTEGER NOT NULL,
                    ctime INTEGER NOT NULL,
                    mtime INTEGER NOT NULL
                );
                CREATE INDEX grp_app ON grp(appkey, gid);
                INSERT INTO sqlite_sequence (name, seq) VALUES ('grp', 10000000);
                CREATE TABLE group_member (
                    gid INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    silenced INTEGER NOT NULL DEFAULT 0,
                    joined INTEGER NOT NULL,
                    PRIMARY KEY (gid, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX group_member_user ON group_member(user_id);
                CREATE TABLE friend (
                    user_id INTEGER NOT NULL,
                    friend_id INTEGER NOT NULL,
                    note_name TEXT,
                    others TEXT,
                    ctime INTEGER NOT NULL,
                    PRIMARY KEY (user_id, friend_id)
                ) WITHOUT ROWID;
                CREATE TABLE blacklist (
                    user_id INTEGER NOT NULL,
                    blocked_id INTEGER NOT NULL,
                    PRIMARY KEY (user_id, blocked_id)
                ) WITHOUT ROWID;
                CREATE TABLE nodisturb (
                    user_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    target INTEGER NOT NULL,
                    PRIMARY KEY (user_id, kind, target)
                ) WITHOUT ROWID;
                CREATE TABLE group_shield (
                    user_id INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    PRIMARY KEY (user_id, gid)
                ) WITHOUT ROWID;
                CREATE TABLE chatroom (
                    room_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    appkey TEXT NOT NULL,
                    owner_id INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    description TEXT,
                    ctime INTEGER NOT NULL,
                    mtime INTEGER NOT NULL
                );
                INSERT INTO sqlite_sequence (name, seq) VALUES ('chatroom', 12000000);
                CREATE TABLE chatroom_member (
                    room_id INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    silenced INTEGER NOT NULL DEFAULT 0,
                    joined INTEGER NOT NULL,
                    PRIMARY KEY (room_id, user_id)
                ) WITHOUT ROWID;
                CREATE TABLE sensitive_word (
                    appkey TEXT NOT NULL,
                    word TEXT NOT NULL,
                    ctime INTEGER NOT NULL,
                    PRIMARY KEY (appkey, word)
                ) WITHOUT ROWID;
                CREATE TABLE app_state (
                    appkey TEXT PRIMARY KEY NOT NULL,
                    sensitive_filter INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
    }

    /// An account's username, quoted, for error messages (the id when the account is gone).
    static func name(_ db: Database, _ userID: Int64) throws -> String {
        try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [userID]).map { "'\($0)'" }
            ?? "user #\(userID)"
    }
}
