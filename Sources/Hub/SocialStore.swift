import IMProtocol

/// The durable side of accounts beyond registration: profile changes, listing, deletion and the forbidden flag.
public protocol AccountStore: Sendable {
    /// The account with this id, if any.
    func user(id: Int64) async throws -> User?
    /// The accounts with these usernames in this app; missing names are absent from the result.
    func users(appKey: String, usernames: [String]) async throws -> [User]
    /// Replaces an account's profile.
    func updateProfile(userID: Int64, profile: Profile, now: Int64) async throws
    /// Deletes accounts with their memberships, friendships, blacklists and settings; groups they owned pass to
    /// their longest-standing member or are deleted when empty. Messages stay in the history.
    func deleteUsers(_ userIDs: [Int64], now: Int64) async throws
    /// One page of an app's accounts of the given kinds, by registration order.
    func listUsers(appKey: String, kinds: [FromType], start: Int, count: Int) async throws -> Page<User>
    /// Sets or clears the forbidden flag.
    func setForbidden(userID: Int64, _ forbidden: Bool, now: Int64) async throws
    /// Whether the account is forbidden.
    func isForbidden(userID: Int64) async throws -> Bool
}

/// Groups and their members.
public protocol GroupStore: Sendable {
    /// Creates a group with its owner and first members in one transaction.
    func createGroup(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, desc: String?, avatar: String?,
                     flag: Int, maxMembers: Int, now: Int64) async throws -> Group
    /// The group with this id, if any.
    func group(gid: Int64) async throws -> Group?
    /// Changes a group's name, description or avatar (`nil` leaves a field).
    func updateGroup(gid: Int64, name: String?, desc: String?, avatar: String?, now: Int64) async throws
    /// Deletes a group and its memberships; returns the member ids it had.
    func deleteGroup(gid: Int64) async throws -> [Int64]
    /// The members of a group, owner first, then by joining order.
    func members(gid: Int64) async throws -> [GroupMember]
    /// The ids of the members of a group with whether each shields it and whether its no-disturb covers it.
    func memberIDs(gid: Int64) async throws -> [(userID: Int64, shielded: Bool, quiet: Bool)]
    /// Whether an account is a member, and if so whether it is silenced.
    func membership(gid: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool)
    /// Adds and removes members atomically: 899011 for a member added twice, 899014 for removing a non-member,
    /// 899012 when the group would exceed its size. Returns the ids actually added and removed.
    func changeMembers(gid: Int64, add: [Int64], remove: [Int64], now: Int64) async throws -> (added: [Int64], removed: [Int64])
    /// One page of an app's groups.
    func listGroups(appKey: String, start: Int, count: Int) async throws -> Page<Group>
    /// The groups an account is a member of.
    func groups(ofUser userID: Int64) async throws -> [Group]
    /// Silences or unsilences members; 899014 when one is not a member.
    func setSilenced(gid: Int64, userIDs: [Int64], _ silenced: Bool) async throws
    /// Makes a member the owner; 899014 when it is not a member.
    func transferOwner(gid: Int64, to userID: Int64, now: Int64) async throws
}

/// Friends, blacklists, no-disturb settings and group shields.
public protocol RelationStore: Sendable {
    /// Makes the accounts friends of `userID` and `userID` a friend of each; 899070 when one already is.
    func addFriends(userID: Int64, _ friendIDs: [Int64], now: Int64) async throws
    /// Ends friendships in both directions; 899071 when one is not a friend.
    func removeFriends(userID: Int64, _ friendIDs: [Int64]) async throws
    /// Changes note names and notes; 899071 when one is not a friend.
    func updateFriends(userID: Int64, _ notes: [(friendID: Int64, noteName: String?, others: String?)]) async throws
    /// A user's friends.
    func friends(userID: Int64) async throws -> [Friend]
    /// Adds accounts to a user's blacklist; 899017 when one already is.
    func addToBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws
    /// Removes accounts from a user's blacklist; 899019 when one is not on it.
    func removeFromBlacklist(userID: Int64, _ blockedIDs: [Int64]) async throws
    /// A user's blacklist.
    func blacklist(userID: Int64) async throws -> [User]
    /// Applies no-disturb changes in one transaction.
    func changeNoDisturb(userID: Int64, addSingles: [Int64], removeSingles: [Int64], addGroups: [Int64],
                         removeGroups: [Int64], global: Bool?) async throws
    /// Shields and unshields groups for a user.
    func changeGroupShield(userID: Int64, add: [Int64], remove: [Int64]) async throws
}

/// Chatrooms and their members.
public protocol ChatroomStore: Sendable {
    /// Creates a room with its owner and first members.
    func createRoom(appKey: String, ownerID: Int64, memberIDs: [Int64], name: String, description: String?,
                    now: Int64) async throws -> Chatroom
    /// The rooms with these ids in this app.
    func rooms(appKey: String, ids: [Int64]) async throws -> [Chatroom]
    /// One page of an app's rooms.
    func listRooms(appKey: String, start: Int, count: Int) async throws -> Page<Chatroom>
    /// Changes a room's owner, name or description (`nil` leaves a field).
    func updateRoom(roomID: Int64, ownerID: Int64?, name: String?, description: String?, now: Int64) async throws
    /// Deletes a room.
    func deleteRoom(roomID: Int64) async throws
    /// One page of a room's members with whether each is silenced.
    func roomMembers(roomID: Int64, start: Int, count: Int) async throws -> Page<GroupMember>
    /// The ids of a room's members.
    func roomMemberIDs(roomID: Int64) async throws -> [Int64]
    /// Whether an account is in a room, and if so whether it is silenced.
    func roomMembership(roomID: Int64, userID: Int64) async throws -> (member: Bool, silenced: Bool)
    /// Adds members (already present ones are left as they are).
    func addRoomMembers(roomID: Int64, _ userIDs: [Int64], now: Int64) async throws
    /// Removes members; 899082 when one is not in the room.
    func removeRoomMembers(roomID: Int64, _ userIDs: [Int64]) async throws
    /// Silences or unsilences a member; 899082 when it is not in the room.
    func setRoomSilenced(roomID: Int64, userID: Int64, _ silenced: Bool) async throws
}

/// Sensitive words, retraction and events.
public protocol ModerationStore: Sendable {
    /// Adds words to an app's list (present ones are kept).
    func addSensitiveWords(appKey: String, _ words: [String], now: Int64) async throws
    /// Replaces a word; false when the old word is not listed.
    func replaceSensitiveWord(appKey: String, old: String, new: String, now: Int64) async throws -> Bool
    /// Deletes a word; false when it is not listed.
    func deleteSensitiveWord(appKey: String, _ word: String) async throws -> Bool
    /// One page of an app's words, alphabetically.
    func sensitiveWords(appKey: String, start: Int, count: Int) async throws -> Page<String>
    /// Turns an app's filter on or off.
    func setSensitiveFilter(appKey: String, _ on: Bool) async throws
    /// Whether an app's filter is on.
    func sensitiveFilter(appKey: String) async throws -> Bool
    /// A stored message with its sender and retraction state.
    func messageRecord(msgID: Int64) async throws -> MessageRecord?
    /// Marks a message retracted; returns the accounts whose inboxes hold it.
    func markRetracted(msgID: Int64) async throws -> [Int64]
    /// Stores an event in the inboxes of `recipients` in one transaction; returns the entries created.
    func appendEvent(_ event: ChatEvent, recipients: [Int64], expiresAt: Int64?) async throws -> [(userID: Int64, seq: Int64)]
}

/// What the rules of one send need from the store, read in one transaction instead of one read per rule.
public struct SendContext: Sendable, Equatable {
    /// The single-chat recipient and its relation to the sender.
    public struct Single: Sendable, Equatable {
        /// The recipient's account.
        public var recipient: User
        /// Whether the recipient has the sender on its blacklist.
        public var blacklisted: Bool
        /// Whether the sender is in the recipient's friend list.
        public var friends: Bool
        /// Whether the recipient's no-disturb covers the sender (or everything).
        public var quiet: Bool

        /// Creates the single-chat part.
        public init(recipient: User, blacklisted: Bool, friends: Bool, quiet: Bool) {
            self.recipient = recipient
            self.blacklisted = blacklisted
            self.friends = friends
            self.quiet = quiet
        }
    }

    /// Whether the sender is forbidden.
    public var senderForbidden: Bool
    /// How many devices the sender has logged in from.
    public var senderDevices: Int
    /// The single-chat part, when a recipient was asked for and exists.
    public var single: Single?

    /// Creates a context.
    public init(senderForbidden: Bool, senderDevices: Int, single: Single?) {
        self.senderForbidden = senderForbidden
        self.senderDevices = senderDevices
        self.single = single
    }
}

/// The read behind the rules of a send.
public protocol SendRuleStore: Sendable {
    /// The sender's state and, when `recipient` is given, the recipient with its relation to the sender.
    func sendContext(senderID: Int64, recipient: (appKey: String, username: String)?) async throws -> SendContext
}
