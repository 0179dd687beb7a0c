import IMProtocol
import Synchronization

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

    /// Accepts a message like ``send(_:from:platform:noNotification:)`` without waiting for its commit: a single-chat
    /// message is queued for the store's writer (its rules read and its append in one transaction) and this returns
    /// once it has its place in the store's order; `done` gets the outcome after the commit, on the store's writer
    /// (keep it short). Single-chat messages submitted one after another are stored in that order, so a connection
    /// can have many in flight to one conversation. Other targets are stored before this returns.
    public func submit(_ draft: ClientFrame.Send, from sender: User, platform: String, noNotification: Bool = false,
                       done: @escaping @Sendable (Result<StoredMessage, HubError>) -> Void) async {
        let finish = metered(draft, done)
        guard draft.targetType == .single else {
            do {
                finish(.success(try await accept(draft, from: sender, platform: platform, noNotification: noNotification)))
            } catch {
                finish(.failure(error))
            }
            return
        }
        await submitSingle(draft, from: sender, platform: platform, noNotification: noNotification, expiresAt: nil,
                           done: { finish($0.map(\.stored)) })
    }

    /// ``submit(_:from:platform:noNotification:done:)`` without a suspension, for a caller on an event loop: a
    /// single-chat message takes its place in the store's order before this returns true (`done` follows after the
    /// commit, on the store's writer; for a body or target refused before the store, before this returns). Returns
    /// false, having done nothing, where that would wait or take long: another target, a store whose writer is not
    /// reached synchronously, or a text body while the app's sensitive words are not loaded or are many.
    public func submitNow(_ draft: ClientFrame.Send, from sender: User, platform: String,
                          done: @escaping @Sendable (Result<StoredMessage, HubError>) -> Void) -> Bool {
        guard draft.targetType == .single, store.submitsSinglesNow else { return false }
        var filter: SensitiveFilter?
        if case .text = draft.body {
            guard let loaded = sensitiveCache.withLock({ $0[sender.appKey] }),
                  !loaded.isOn || loaded.words.count <= Self.wordsMaskedNow else { return false }
            filter = loaded
        }
        let finish = metered(draft, done)
        let prepared: PreparedSend
        do {
            prepared = try check(draft, from: sender).masked(filter)
        } catch {
            finish(.failure(error))
            return true
        }
        let (decide, stored) = singleSteps(draft, prepared, from: sender, platform: platform, noNotification: false,
                                           expiresAt: nil, done: { finish($0.map(\.stored)) })
        return store.submitSingleNow(senderID: sender.id, recipient: (prepared.targetApp.appKey, draft.targetID),
                                     decide: decide, done: stored)
    }

    /// The most sensitive words ``submitNow(_:from:platform:done:)`` masks on the caller's thread: masking costs a
    /// scan of the text per word, too long for an event loop with a long list.
    static let wordsMaskedNow = 32

    /// `done` with the send's metrics: its time to the commit, or its refusal's code.
    private func metered(_ draft: ClientFrame.Send, _ done: @escaping @Sendable (Result<StoredMessage, HubError>) -> Void)
        -> @Sendable (Result<StoredMessage, HubError>) -> Void {
        let metrics = configuration.metrics
        let start = ContinuousClock.now
        return { result in
            switch result {
            case .success: metrics.accepted(draft.targetType, after: start.duration(to: .now))
            case .failure(let error): metrics.refused(error.code)
            }
            done(result)
        }
    }

    /// Sends a single-chat message whose recipient's inbox entry expires at `expiresAt` (ms since 1970; nil: after
    /// the app's offline TTL), in the message's own transaction, and returns what was stored with the inbox entries
    /// created (none for a repeated request id). The bridge gives each push its own time to live this way.
    public func sendSingle(_ draft: ClientFrame.Send, from sender: User, platform: String,
                           expiresAt: Int64?) async throws(HubError) -> AppendResult {
        let metrics = configuration.metrics
        let start = ContinuousClock.now
        let outcome = Outcome<Result<AppendResult, HubError>>()
        await submitSingle(draft, from: sender, platform: platform, noNotification: false, expiresAt: expiresAt,
                           done: { outcome.set($0) })
        switch await outcome.value() {
        case .success(let appended):
            metrics.accepted(.single, after: start.duration(to: .now))
            return appended
        case .failure(let error):
            metrics.refused(error.code)
            throw error
        }
    }

    /// The body of ``send(_:from:platform:noNotification:)`` without its metrics.
    func accept(_ draft: ClientFrame.Send, from sender: User, platform: String,
                noNotification: Bool) async throws(HubError) -> StoredMessage {
        if draft.targetType == .single {
            let outcome = Outcome<Result<StoredMessage, HubError>>()
            await submitSingle(draft, from: sender, platform: platform, noNotification: noNotification, expiresAt: nil,
                               done: { outcome.set($0.map(\.stored)) })
            return try await outcome.value().get()
        }
        let prepared = try await prepare(draft, from: sender)
        // Every rule's read of the sender in one transaction.
        let context = try await storing { try await store.sendContext(senderID: sender.id, recipient: nil) }
        guard !context.senderForbidden else {
            throw HubError(.userForbidden, "user '\(sender.username)' is forbidden to send")
        }
        let plan: DeliveryPlan
        switch draft.targetType {
        case .single:
            plan = try planSingle(draft, from: sender, targetApp: prepared.targetApp, context: context)
        case .group:
            plan = try await planGroup(draft, from: sender, targetAppKey: prepared.targetApp.appKey)
        case .chatroom:
            plan = try await planChatroom(draft, from: sender, targetAppKey: prepared.targetApp.appKey)
        }
        let pending = makePending(draft, prepared, from: sender, platform: platform, noNotification: noNotification,
                                  plan: plan, context: context)
        var result = try await storing { try await store.append(pending) }
        result.quiet = pending.quiet
        publish(result)
        return result.stored
    }

    /// A single-chat message: checked and stored by the store's writer, the rules' reads and the append in one
    /// transaction; `done` gets the outcome after the commit. `expiresAt` replaces the app's offline TTL.
    func submitSingle(_ draft: ClientFrame.Send, from sender: User, platform: String, noNotification: Bool,
                      expiresAt: Int64?, done: @escaping @Sendable (Result<AppendResult, HubError>) -> Void) async {
        let prepared: PreparedSend
        do {
            prepared = try await prepare(draft, from: sender)
        } catch {
            done(.failure(error))
            return
        }
        let (decide, stored) = singleSteps(draft, prepared, from: sender, platform: platform,
                                           noNotification: noNotification, expiresAt: expiresAt, done: done)
        await store.submitSingle(senderID: sender.id, recipient: (prepared.targetApp.appKey, draft.targetID),
                                 decide: decide, done: stored)
    }

    /// A single-chat send's two steps in the store's writer: the rules applied to what it read (`decide`), and
    /// what follows the commit (`stored`: the recipients woken, then `done`).
    private func singleSteps(_ draft: ClientFrame.Send, _ prepared: PreparedSend, from sender: User, platform: String,
                             noNotification: Bool, expiresAt: Int64?,
                             done: @escaping @Sendable (Result<AppendResult, HubError>) -> Void)
        -> (decide: @Sendable (SendContext) throws -> PendingMessage,
            stored: @Sendable (Result<AppendResult, any Error>) -> Void) {
        let decide: @Sendable (SendContext) throws -> PendingMessage = { [self] context in
            guard !context.senderForbidden else {
                throw HubError(.userForbidden, "user '\(sender.username)' is forbidden to send")
            }
            let plan = try planSingle(draft, from: sender, targetApp: prepared.targetApp, context: context)
            var pending = makePending(draft, prepared, from: sender, platform: platform,
                                      noNotification: noNotification, plan: plan, context: context)
            if let expiresAt { pending.expiresAt = expiresAt }
            return pending
        }
        let stored: @Sendable (Result<AppendResult, any Error>) -> Void = { [self] result in
            switch result {
            case .success(let appended):
                publish(appended)
                done(.success(appended))
            case .failure(let error):
                done(.failure(storageFailure(error)))
            }
        }
        return (decide, stored)
    }

    /// What a send's body and target resolve to before the rules that read the store.
    struct PreparedSend: Sendable {
        /// The body as it will be stored (sensitive words masked).
        var body: MessageBody
        /// `body`'s JSON text, spliced into the stored message's (made here, off the store's writer).
        var bodyJSON: [UInt8]
        /// The target's app.
        var targetApp: AppSettings

        /// The send with a text body's sensitive words masked by `filter` (nil or off: as it is).
        func masked(_ filter: SensitiveFilter?) -> PreparedSend {
            guard case .text(var text) = body, let filter, filter.isOn else { return self }
            var masked = self
            text.text = filter.mask(text.text)
            masked.body = .text(text)
            masked.bodyJSON = masked.body.json.serialized()
            return masked
        }
    }

    /// Checks the body (its size, and that it reads back) and the target app, and masks sensitive words.
    func prepare(_ draft: ClientFrame.Send, from sender: User) async throws(HubError) -> PreparedSend {
        let checked = try check(draft, from: sender)
        // Only a text body is masked; another needs no words.
        guard case .text = checked.body else { return checked }
        return checked.masked(try await sensitiveFilter(appKey: sender.appKey))
    }

    /// ``prepare(_:from:)`` before the sensitive words: the body's size, that it reads back, and the target app.
    func check(_ draft: ClientFrame.Send, from sender: User) throws(HubError) -> PreparedSend {
        let body = draft.body
        let json = body.json
        let bodyBytes = json.serialized()
        guard bodyBytes.count <= configuration.maxBodyBytes else {
            throw HubError.invalid("msg_body", "larger than \(configuration.maxBodyBytes) bytes (\(bodyBytes.count))")
        }
        // A body built in Swift must pass the same rules as one read from the wire, or it could be stored and then
        // never read back. The JSON it is stored as reads back as this value unless it holds a number JSON cannot
        // spell (NaN, infinity, written as null): only then is the stored text parsed again to check what it says.
        do {
            if json.hasNonFiniteNumber {
                _ = try MessageBody(type: body.type, json: try JSONValue.parse(bodyBytes))
            } else {
                _ = try MessageBody(type: body.type, json: json)
            }
        } catch {
            throw HubError.invalid(error)
        }
        let targetAppKey = draft.targetAppKey.flatMap { $0.isEmpty ? nil : $0 } ?? sender.appKey
        guard let targetApp = apps[targetAppKey] else {
            throw HubError(.appKeyNotFound, "target_appkey: app \(targetAppKey) does not exist")
        }
        return PreparedSend(body: body, bodyJSON: bodyBytes, targetApp: targetApp)
    }

    /// The message to store for `plan`: who gets an entry (online sessions only without offline storage, the sender's
    /// other devices) and who is not notified.
    func makePending(_ draft: ClientFrame.Send, _ prepared: PreparedSend, from sender: User, platform: String,
                     noNotification: Bool, plan: DeliveryPlan, context: SendContext) -> PendingMessage {
        var plan = plan
        let targetApp = prepared.targetApp
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
            targetAppKey: draft.targetAppKey == nil && targetApp.appKey == sender.appKey ? nil : targetApp.appKey,
            targetName: draft.targetName ?? plan.targetName,
            fromType: sender.kind, fromID: sender.username, fromAppKey: sender.appKey,
            fromName: draft.fromName ?? sender.profile.nickname, fromPlatform: platform, createTime: time / 1000,
            body: prepared.body)
        var pending = PendingMessage(message: message, senderUserID: sender.id, requestID: draft.requestID,
                                     recipients: plan.recipients, now: time,
                                     expiresAt: time + targetApp.offlineTTL.wholeMilliseconds, bodyJSON: prepared.bodyJSON)
        pending.quiet = plan.quiet
        return pending
    }

    /// Wakes the recipients' sessions of a committed message; its frame is serialized once here and spliced per
    /// recipient by the sessions.
    func publish(_ result: AppendResult) {
        configuration.metrics.stored(entries: result.entries.count)
        guard !result.entries.isEmpty else { return }
        let encoded = EncodedDelivery(result.stored, messageJSON: result.messageJSON)
        for entry in result.entries {
            bus.publish(userID: entry.userID, entry: InboxEntry(seq: entry.seq, stored: result.stored,
                                                                 noNotification: result.quiet.contains(entry.userID),
                                                                 encoded: encoded))
        }
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

/// A value set once by one side and awaited by the other, without a task: how ``Hub/send(_:from:platform:noNotification:)``
/// waits for a completion the store's writer calls.
final class Outcome<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value, Never>?
    }

    private let state = Mutex(State())

    /// Sets the value (once) and wakes the waiter.
    func set(_ value: Value) {
        let waiter = state.withLock { s -> CheckedContinuation<Value, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.value = value
            return nil
        }
        waiter?.resume(returning: value)
    }

    /// Waits for the value.
    func value() async -> Value {
        await withCheckedContinuation { (c: CheckedContinuation<Value, Never>) in
            let ready = state.withLock { s -> Value? in
                if let v = s.value { return v }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

extension JSONValue {
    /// Whether a number JSON cannot spell (NaN or an infinity, serialized as `null`) is somewhere in this value.
    var hasNonFiniteNumber: Bool {
        switch self {
        case .double(let d): !d.isFinite
        case .array(let a): a.contains { $0.hasNonFiniteNumber }
        case .object(let o): o.values.contains { $0.hasNonFiniteNumber }
        case .null, .bool, .int, .string: false
        }
    }
}
