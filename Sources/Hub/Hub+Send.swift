import IMProtocol

extension Hub {
    /// Accepts a message from `sender`: checks the rules of the hub (forbidden accounts, cross-app permission, friend
    /// mode, blacklists, group membership and silence), stores it durably with its inbox entries, then wakes the
    /// recipients' sessions. Returns only after the commit.
    ///
    /// - Parameters:
    ///   - noNotification: deliver without notifying the recipients (REST `no_notification`).
    public func send(_ draft: ClientFrame.Send, from sender: User, platform: String,
                     noNotification: Bool = false) async throws(HubError) -> StoredMessage {
        let metrics = configuration.metrics
        let start = ContinuousClock.now
        do {
            let stored = try await accept(draft, from: sender, platform: platform, noNotification: noNotification)
            metrics.accepted(draft.targetType, after: start.duration(to: .now))
            return stored
        } catch {
            metrics.refused(error.code)
            throw error
        }
    }

    /// The body of ``send(_:from:platform:noNotification:)`` without its metrics.
    func accept(_ draft: ClientFrame.Send, from sender: User, platform: String,
                noNotification: Bool) async throws(HubError) -> StoredMessage {
        var body = draft.body
        let bodyBytes = body.json.serialized()
        guard bodyBytes.count <= configuration.maxBodyBytes else {
            throw HubError.invalid("msg_body", "larger than \(configuration.maxBodyBytes) bytes (\(bodyBytes.count))")
        }
        // A body built in Swift must pass the same rules as one read from the wire, or it could be stored
        // and then never read back.
        do {
            _ = try MessageBody(type: body.type, json: try JSONValue.parse(bodyBytes))
        } catch {
            throw HubError.invalid(error)
        }
        let targetAppKey = draft.targetAppKey.flatMap { $0.isEmpty ? nil : $0 } ?? sender.appKey
        guard let targetApp = apps[targetAppKey] else {
            throw HubError(.appKeyNotFound, "target_appkey: app \(targetAppKey) does not exist")
        }
        // Every rule's read of the sender (and of a single chat's recipient) in one transaction.
        let context = try await storing {
            try await store.sendContext(senderID: sender.id,
                                        recipient: draft.targetType == .single ? (targetAppKey, draft.targetID) : nil)
        }
        guard !context.senderForbidden else {
            throw HubError(.userForbidden, "user '\(sender.username)' is forbidden to send")
        }
        if case .text(var text) = body, let filter = try await sensitiveFilter(appKey: sender.appKey), filter.isOn {
            text.text = filter.mask(text.text)
            body = .text(text)
        }

        var plan: DeliveryPlan
        switch draft.targetType {
        case .single:
            plan = try planSingle(draft, from: sender, targetApp: targetApp, context: context)
        case .group:
            plan = try await planGroup(draft, from: sender, targetAppKey: targetAppKey)
        case .chatroom:
            plan = try await planChatroom(draft, from: sender, targetAppKey: targetAppKey)
        }
        // Without offline storage (the app's rule, or the message's no_offline) only online sessions get it.
        let keepOffline = plan.offline && targetApp.offlineMessages && !draft.noOffline
        if !keepOffline {
            plan.recipients = plan.recipients.filter { bus.subscriberCount(userID: $0) > 0 }
        }
        // The sender's other devices get a copy of what it sent, when it uses more than one.
        if draft.targetType != .chatroom, !plan.recipients.contains(sender.id), context.senderDevices > 1 {
            plan.recipients.append(sender.id)
            plan.quiet.insert(sender.id)
        }
        if noNotification { plan.quiet.formUnion(plan.recipients) }

        let time = now()
        let message = Message(
            targetType: draft.targetType, targetID: draft.targetID,
            targetAppKey: draft.targetAppKey == nil && targetAppKey == sender.appKey ? nil : targetAppKey,
            targetName: draft.targetName ?? plan.targetName,
            fromType: sender.kind, fromID: sender.username, fromAppKey: sender.appKey,
            fromName: draft.fromName ?? sender.profile.nickname, fromPlatform: platform, createTime: time / 1000,
            body: body)
        var pending = PendingMessage(message: message, senderUserID: sender.id, requestID: draft.requestID,
                                     recipients: plan.recipients, now: time,
                                     expiresAt: time + targetApp.offlineTTL.wholeMilliseconds)
        pending.quiet = plan.quiet
        let result = try await storing { try await store.append(pending) }
        configuration.metrics.stored(entries: result.entries.count)
        // Serialized once here, spliced per recipient by the sessions.
        let encoded = result.entries.isEmpty ? nil : EncodedDelivery(result.stored)
        for entry in result.entries {
            bus.publish(userID: entry.userID, entry: InboxEntry(seq: entry.seq, stored: result.stored,
                                                                 noNotification: plan.quiet.contains(entry.userID),
                                                                 encoded: encoded))
        }
        return result.stored
    }

    /// Who gets a message and how.
    struct DeliveryPlan {
        var recipients: [Int64]
        var quiet: Set<Int64> = []
        var offline = true
        var targetName: String?
    }

    func planSingle(_ draft: ClientFrame.Send, from sender: User, targetApp: AppSettings,
                    context: SendContext) throws(HubError) -> DeliveryPlan {
        if targetApp.appKey != sender.appKey, !targetApp.crossApp.contains(sender.appKey) {
            throw HubError(.crossAppNotPermitted, "app \(targetApp.appKey) does not allow messages from app \(sender.appKey)")
        }
        guard let single = context.single else { throw HubError.userNotFound(draft.targetID, appKey: targetApp.appKey) }
        let recipient = single.recipient
        if single.blacklisted {
            throw HubError(.senderBlacklisted, "user '\(recipient.username)' has blacklisted '\(sender.username)'")
        }
        let exempt = sender.kind != .user || recipient.kind != .user || sender.id == recipient.id
        if !exempt, targetApp.friendMode || (apps[sender.appKey]?.friendMode ?? false), !single.friends {
            throw HubError(.notAFriend, "friend mode: '\(recipient.username)' is not a friend of '\(sender.username)'")
        }
        var plan = DeliveryPlan(recipients: [recipient.id], targetName: recipient.profile.nickname)
        if single.quiet { plan.quiet.insert(recipient.id) }
        return plan
    }

    func planGroup(_ draft: ClientFrame.Send, from sender: User, targetAppKey: String) async throws(HubError) -> DeliveryPlan {
        let group = try await group(gidString: draft.targetID, field: "target_id")
        guard group.appKey == targetAppKey else {
            throw HubError(.groupIDNotFound, "target_id: group \(group.gid) does not exist in app \(targetAppKey)")
        }
        let membership = try await storing { try await store.membership(gid: group.gid, userID: sender.id) }
        if sender.kind != .admin {
            guard membership.member else {
                throw HubError(.senderNotInGroup, "'\(sender.username)' is not a member of group \(group.gid)")
            }
            guard !membership.silenced else {
                throw HubError(.senderSilenced, "'\(sender.username)' is silenced in group \(group.gid)")
            }
        }
        let members = try await storing { try await store.memberIDs(gid: group.gid) }
        var plan = DeliveryPlan(recipients: [], targetName: group.name)
        plan.recipients.reserveCapacity(members.count)
        for m in members where !m.shielded && m.userID != sender.id {
            plan.recipients.append(m.userID)
            if m.quiet { plan.quiet.insert(m.userID) }
        }
        return plan
    }

    func planChatroom(_ draft: ClientFrame.Send, from sender: User, targetAppKey: String) async throws(HubError) -> DeliveryPlan {
        guard let roomID = Int64(draft.targetID) else { throw HubError.invalid("target_id", "a chatroom id is a number") }
        guard let room = try await storing({ try await store.rooms(appKey: targetAppKey, ids: [roomID]) }).first else {
            throw HubError(.roomNotFound, "chatroom \(roomID) does not exist")
        }
        if sender.kind != .admin {
            let membership = try await storing { try await store.roomMembership(roomID: roomID, userID: sender.id) }
            guard membership.member else { throw HubError(.notInRoom, "'\(sender.username)' is not in chatroom \(roomID)") }
            guard !membership.silenced else {
                throw HubError(.senderSilencedInRoom, "'\(sender.username)' is silenced in chatroom \(roomID)")
            }
        }
        // A chatroom keeps nothing for absent members: only connected ones get its messages.
        let members = try await storing { try await store.roomMemberIDs(roomID: roomID) }
        var plan = DeliveryPlan(recipients: members.filter { $0 != sender.id }, targetName: room.name)
        plan.offline = false
        return plan
    }
}
