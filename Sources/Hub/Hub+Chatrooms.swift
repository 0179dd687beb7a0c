import IMProtocol

extension Hub {
    /// Creates a chatroom owned by `owner` with its first members.
    public func createRoom(appKey: String, owner: String, name: String, description: String?,
                           members: [String]) async throws(HubError) -> Chatroom {
        guard !name.isEmpty, name.utf8.count <= 64 else { throw HubError.invalid("name", "must be 1 to 64 bytes") }
        if let description, description.utf8.count > 250 { throw HubError.invalid("description", "longer than 250 bytes") }
        let ownerUser = try await user(appKey: appKey, username: owner)
        let others = try await users(appKey: appKey, usernames: members)
        return try await storing {
            try await store.createRoom(appKey: appKey, ownerID: ownerUser.id, memberIDs: others.map(\.id), name: name,
                                       description: description, now: now())
        }
    }

    /// The rooms with these ids; unknown ids are left out.
    public func rooms(appKey: String, ids: [Int64]) async throws(HubError) -> [Chatroom] {
        try await storing { try await store.rooms(appKey: appKey, ids: ids) }
    }

    /// The room with this id, or 899081.
    public func room(appKey: String, id: Int64) async throws(HubError) -> Chatroom {
        guard let room = try await rooms(appKey: appKey, ids: [id]).first else {
            throw HubError(.roomNotFound, "chatroom \(id) does not exist")
        }
        return room
    }

    /// One page of an app's rooms.
    public func listRooms(appKey: String, start: Int, count: Int) async throws(HubError) -> Page<Chatroom> {
        try await storing { try await store.listRooms(appKey: appKey, start: start, count: count) }
    }

    /// Changes a room's owner, name or description.
    public func updateRoom(appKey: String, id: Int64, owner: String?, name: String?, description: String?) async throws(HubError) {
        let room = try await room(appKey: appKey, id: id)
        if let name, name.isEmpty || name.utf8.count > 64 { throw HubError.invalid("name", "must be 1 to 64 bytes") }
        if let description, description.utf8.count > 250 { throw HubError.invalid("description", "longer than 250 bytes") }
        var ownerID: Int64?
        if let owner { ownerID = try await user(appKey: appKey, username: owner).id }
        try await storing {
            try await store.updateRoom(roomID: room.roomID, ownerID: ownerID, name: name, description: description, now: now())
        }
    }

    /// Deletes a room.
    public func deleteRoom(appKey: String, id: Int64) async throws(HubError) {
        let room = try await room(appKey: appKey, id: id)
        try await storing { try await store.deleteRoom(roomID: room.roomID) }
    }

    /// One page of a room's members.
    public func roomMembers(appKey: String, id: Int64, start: Int, count: Int) async throws(HubError) -> Page<GroupMember> {
        let room = try await room(appKey: appKey, id: id)
        return try await storing { try await store.roomMembers(roomID: room.roomID, start: start, count: count) }
    }

    /// Adds members to a room.
    public func addRoomMembers(appKey: String, id: Int64, usernames: [String]) async throws(HubError) {
        let room = try await room(appKey: appKey, id: id)
        let members = try await users(appKey: appKey, usernames: usernames)
        try await storing { try await store.addRoomMembers(roomID: room.roomID, members.map(\.id), now: now()) }
    }

    /// Removes members from a room; 899082 when one is not in it.
    public func removeRoomMembers(appKey: String, id: Int64, usernames: [String]) async throws(HubError) {
        let room = try await room(appKey: appKey, id: id)
        let members = try await users(appKey: appKey, usernames: usernames)
        try await storing { try await store.removeRoomMembers(roomID: room.roomID, members.map(\.id)) }
    }

    /// Silences a member of a room (it may not send there) or lets it speak again.
    public func silenceInRoom(appKey: String, id: Int64, username: String, _ silenced: Bool) async throws(HubError) {
        let room = try await room(appKey: appKey, id: id)
        let member = try await user(appKey: appKey, username: username)
        try await storing { try await store.setRoomSilenced(roomID: room.roomID, userID: member.id, silenced) }
    }
}
