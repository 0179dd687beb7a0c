import IMProtocol

/// A group: a conversation of members under one owner, in one AppKey (members may come from other AppKeys).
public struct Group: Sendable, Equatable {
    /// The group id, `gid` on the wire.
    public var gid: Int64
    /// The AppKey the group belongs to.
    public var appKey: String
    /// Display name.
    public var name: String
    /// Description, `desc` on the wire.
    public var desc: String?
    /// Media id of the avatar.
    public var avatar: String?
    /// 1 private group, 2 public group (JMessage's `flag`).
    public var flag: Int
    /// The owner's account id.
    public var ownerID: Int64
    /// The owner's username.
    public var ownerUsername: String
    /// The owner's AppKey.
    public var ownerAppKey: String
    /// At most this many members, `MaxMemberCount` on the wire.
    public var maxMemberCount: Int
    /// Creation time in milliseconds.
    public var ctime: Int64
    /// Last change in milliseconds.
    public var mtime: Int64

    /// Creates a group value.
    public init(gid: Int64, appKey: String, name: String, desc: String?, avatar: String?, flag: Int, ownerID: Int64,
                ownerUsername: String, ownerAppKey: String, maxMemberCount: Int, ctime: Int64, mtime: Int64) {
        self.gid = gid
        self.appKey = appKey
        self.name = name
        self.desc = desc
        self.avatar = avatar
        self.flag = flag
        self.ownerID = ownerID
        self.ownerUsername = ownerUsername
        self.ownerAppKey = ownerAppKey
        self.maxMemberCount = maxMemberCount
        self.ctime = ctime
        self.mtime = mtime
    }
}

/// What a new group is made of.
public struct NewGroup: Sendable, Equatable {
    /// The owner's username (in the group's AppKey).
    public var owner: String
    /// Display name.
    public var name: String
    /// The first members besides the owner (in the group's AppKey).
    public var members: [String]
    /// Description.
    public var desc: String?
    /// Media id of the avatar.
    public var avatar: String?
    /// 1 private (the default), 2 public.
    public var flag: Int

    /// Creates a group request.
    public init(owner: String, name: String, members: [String] = [], desc: String? = nil, avatar: String? = nil, flag: Int = 1) {
        self.owner = owner
        self.name = name
        self.members = members
        self.desc = desc
        self.avatar = avatar
        self.flag = flag
    }
}

/// A member of a group as listed: the account, whether it owns the group and whether it is silenced.
public struct GroupMember: Sendable, Equatable {
    /// The account.
    public var user: User
    /// True for the owner (`flag` 1 on the wire), false for other members (0).
    public var isOwner: Bool
    /// True when the member may not send to the group.
    public var silenced: Bool

    /// Creates a member value.
    public init(user: User, isOwner: Bool, silenced: Bool) {
        self.user = user
        self.isOwner = isOwner
        self.silenced = silenced
    }
}

/// A friend in a user's list: the account and the user's notes about it.
public struct Friend: Sendable, Equatable {
    /// The friend's account.
    public var user: User
    /// The name the user gave the friend.
    public var noteName: String?
    /// Free-form notes.
    public var others: String?
    /// When the friendship began, in milliseconds.
    public var ctime: Int64

    /// Creates a friend value.
    public init(user: User, noteName: String?, others: String?, ctime: Int64) {
        self.user = user
        self.noteName = noteName
        self.others = others
        self.ctime = ctime
    }
}

/// A change to a user's notes about a friend.
public struct FriendNote: Sendable, Equatable {
    /// The friend.
    public var username: String
    /// The new note name; `nil` leaves it.
    public var noteName: String?
    /// The new notes; `nil` leaves them.
    public var others: String?

    /// Creates a note change.
    public init(username: String, noteName: String?, others: String?) {
        self.username = username
        self.noteName = noteName
        self.others = others
    }
}

/// A chatroom: a large, online-only conversation; members get its messages only while connected.
public struct Chatroom: Sendable, Equatable {
    /// The room id, `id` on the wire.
    public var roomID: Int64
    /// The AppKey it belongs to.
    public var appKey: String
    /// The owner's username.
    public var ownerUsername: String
    /// Display name.
    public var name: String
    /// Description.
    public var description: String?
    /// How many members it has.
    public var memberCount: Int
    /// Creation time in milliseconds.
    public var ctime: Int64

    /// Creates a room value.
    public init(roomID: Int64, appKey: String, ownerUsername: String, name: String, description: String?, memberCount: Int,
                ctime: Int64) {
        self.roomID = roomID
        self.appKey = appKey
        self.ownerUsername = ownerUsername
        self.name = name
        self.description = description
        self.memberCount = memberCount
        self.ctime = ctime
    }
}

/// A page of a longer list: the total and this page's items.
public struct Page<Item: Sendable & Equatable>: Sendable, Equatable {
    /// How many items there are in all.
    public var total: Int
    /// The items of this page.
    public var items: [Item]

    /// Creates a page.
    public init(total: Int, items: [Item]) {
        self.total = total
        self.items = items
    }
}

/// A stored message with what retraction needs: who sent it and whether it is already retracted.
public struct MessageRecord: Sendable, Equatable {
    /// The message.
    public var stored: StoredMessage
    /// The sender's account id.
    public var senderUserID: Int64
    /// True when it has been retracted.
    public var retracted: Bool

    /// Creates a record.
    public init(stored: StoredMessage, senderUserID: Int64, retracted: Bool) {
        self.stored = stored
        self.senderUserID = senderUserID
        self.retracted = retracted
    }
}
