import IMProtocol

/// Everything the bridge keeps durably: devices with their alias, mobile and tags, alias bindings, pushes (with
/// `cid` and `sendno`), one delivery per resolved account with its hub `msg_id` and inbox `seq`, receipt
/// deadlines, and the escalations that ran.
///
/// `SQLiteBridgeStore` implements it on its own file next to the hub's. Every method is one transaction.
public protocol BridgeStore: Sendable {
    /// A device of an app, if it was ever written.
    func device(appKey: String, registrationID: String) async throws -> DeviceRecord?

    /// Creates or changes a device.
    func updateDevice(appKey: String, registrationID: String, _ update: DeviceUpdate, now: Int64) async throws

    /// The devices bound to an alias, by registration id.
    func registrationIDs(appKey: String, alias: String) async throws -> [String]

    /// Unbinds an alias from every device; returns how many devices held it.
    func removeAlias(appKey: String, alias: String) async throws -> Int

    /// Every device of an app that has an alias: (registration id, alias).
    func aliasedDevices(appKey: String) async throws -> [(registrationID: String, alias: String)]

    /// The aliases of some devices, by registration id (devices without an alias are left out).
    func aliases(appKey: String, registrationIDs: [String]) async throws -> [String: String]

    /// The tags used by an app's devices.
    func tags(appKey: String) async throws -> [String]

    /// The devices carrying a tag.
    func registrationIDs(appKey: String, tag: String) async throws -> [String]

    /// Adds and removes devices of a tag (devices are created as needed).
    func updateTag(appKey: String, tag: String, add: [String], remove: [String], now: Int64) async throws

    /// Removes a tag from every device; returns how many carried it.
    func removeTag(appKey: String, tag: String) async throws -> Int

    /// The username an alias is bound to in the binding table.
    func binding(appKey: String, alias: String) async throws -> String?

    /// Binds an alias to a username (replacing an earlier binding).
    func setBinding(appKey: String, alias: String, username: String, now: Int64) async throws

    /// Removes a binding; false when there was none.
    func removeBinding(appKey: String, alias: String) async throws -> Bool

    /// Every binding of an app, by alias.
    func bindings(appKey: String) async throws -> [(alias: String, username: String)]

    /// Records a push and its deliveries atomically; with a `cid` seen before, returns the earlier push and
    /// records nothing (`duplicate` true).
    func recordPush(_ push: NewPush, deliveries: [NewDelivery]) async throws -> (push: PushRecord, duplicate: Bool)

    /// The push of an app with this `cid`, if any.
    func push(appKey: String, cid: String) async throws -> PushRecord?

    /// The latest `limit` pushes of an app, newest first (the console's Bridge screen).
    func recentPushes(appKey: String, limit: Int) async throws -> [PushRecord]

    /// How many deliveries of an app's pushes are in each status (the console's dashboard).
    func deliveryCounts(appKey: String) async throws -> [DeliveryStatus: Int]

    /// Up to `limit` deliveries of an app's pushes in the hub and not yet received, earliest receipt deadline first.
    func openDeliveries(appKey: String, limit: Int) async throws -> [DeliveryRecord]

    /// A push by its `msg_id`.
    func push(msgID: Int64) async throws -> PushRecord?

    /// The deliveries of a push, by account id.
    func deliveries(pushID: Int64) async throws -> [DeliveryRecord]

    /// The devices a push was aimed at when it was resolved: (registration id, account id).
    func targets(pushID: Int64) async throws -> [(registrationID: String, userID: Int64)]

    /// Deliveries recorded but not yet handed to the hub (a crash came in between).
    func pendingDeliveries() async throws -> [DeliveryRecord]

    /// Records the hub's answer for a delivery: its status, the hub `msg_id`, the inbox `seq`, an error.
    func setDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                      expiresAt: Int64?, error: String?) async throws

    /// ``setDelivered(pushID:userID:status:hubMsgID:seq:expiresAt:error:)`` without waiting until it is durable:
    /// this store's later reads and writes see it, and a record lost in a crash leaves the delivery pending, which
    /// `Bridge.recover()` redoes (the hub stores a request id once). `failed` hears a record that was not stored.
    func queueDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                        expiresAt: Int64?, error: String?, failed: @escaping @Sendable (any Error) -> Void) async

    /// Makes a resent copy the one whose receipt counts: status delivered at inbox `seq`, expiring at `expiresAt`.
    func rebase(pushID: Int64, userID: Int64, seq: Int64, expiresAt: Int64) async throws

    /// Records that a delivery was received (at `at`, ms) or expired undelivered.
    func setOutcome(pushID: Int64, userID: Int64, status: DeliveryStatus, at: Int64) async throws

    /// Sets the next escalation step and its deadline (`nil`: no more deadline) and releases the claim.
    func schedule(pushID: Int64, userID: Int64, step: Int, dueAt: Int64?) async throws

    /// Claims up to `limit` deliveries whose deadline passed by `now` and that nobody holds (or whose holder's
    /// lease ran out), holding them until `leaseUntil`.
    func claimDue(now: Int64, leaseUntil: Int64, limit: Int) async throws -> [DeliveryRecord]

    /// Deliveries still waiting for a receipt whose time to live ended by `now`.
    func expiredUnreceived(now: Int64, limit: Int) async throws -> [DeliveryRecord]

    /// Records an escalation step that ran, once per (push, account, step): a step run again by the node that
    /// re-claimed a deadline after its first node died before rescheduling it is not recorded twice.
    func recordEscalation(_ escalation: EscalationRecord) async throws

    /// The escalations of a push, in order.
    func escalations(pushID: Int64) async throws -> [EscalationRecord]

    /// Whether pushes keep their `callback` here (see the extension's default).
    var keepsReceiptCallbacks: Bool { get }
}

extension BridgeStore {
    /// Waits for the record to be stored: the default, for a store without a queue of its own writes.
    public func queueDelivered(pushID: Int64, userID: Int64, status: DeliveryStatus, hubMsgID: Int64?, seq: Int64?,
                               expiresAt: Int64?, error: String?,
                               failed: @escaping @Sendable (any Error) -> Void) async {
        do {
            try await setDelivered(pushID: pushID, userID: userID, status: status, hubMsgID: hubMsgID, seq: seq,
                                   expiresAt: expiresAt, error: error)
        } catch let storeError {
            failed(storeError)
        }
    }

    /// Whether the store keeps a push's `callback` (receipt callbacks): a push carrying one is refused (1009) by a
    /// store that would drop it. The stores that keep them are ``ReceiptStore``s (SQLite and PostgreSQL).
    public var keepsReceiptCallbacks: Bool { false }
}

/// A device as the device API shows it.
public struct DeviceRecord: Sendable, Equatable {
    /// The registration id.
    public var registrationID: String
    /// The bound alias, if any.
    public var alias: String?
    /// The mobile number, if any.
    public var mobile: String?
    /// The tags, sorted.
    public var tags: [String]

    /// Creates a record.
    public init(registrationID: String, alias: String?, mobile: String?, tags: [String]) {
        self.registrationID = registrationID
        self.alias = alias
        self.mobile = mobile
        self.tags = tags
    }
}

/// A change to a device: `nil` leaves a field as it is, an empty string clears it.
public struct DeviceUpdate: Sendable, Equatable {
    /// The new alias; `""` unbinds.
    public var alias: String?
    /// The new mobile number; `""` clears.
    public var mobile: String?
    /// Tags to add.
    public var addTags: [String]
    /// Tags to remove.
    public var removeTags: [String]
    /// Removes every tag first.
    public var clearTags: Bool

    /// Creates an update.
    public init(alias: String? = nil, mobile: String? = nil, addTags: [String] = [], removeTags: [String] = [],
                clearTags: Bool = false) {
        self.alias = alias
        self.mobile = mobile
        self.addTags = addTags
        self.removeTags = removeTags
        self.clearTags = clearTags
    }
}

/// A push on its way into the store.
public struct NewPush: Sendable, Equatable {
    /// The pushing AppKey.
    public var appKey: String
    /// The idempotency key, if the caller gave one.
    public var cid: String?
    /// The caller's `sendno`, echoed back.
    public var sendno: String
    /// The rule that bridges it.
    public var rule: String
    /// What the push says.
    public var content: PushContent
    /// When it was accepted (ms).
    public var createdAt: Int64
    /// `time_to_live` in seconds; 0 means online only.
    public var timeToLive: Int64
    /// Where its receipts are reported (`callback` of the push), if anywhere.
    public var callback: ReceiptCallback? = nil

    /// Creates a new push.
    public init(appKey: String, cid: String?, sendno: String, rule: String, content: PushContent, createdAt: Int64,
                timeToLive: Int64) {
        self.appKey = appKey
        self.cid = cid
        self.sendno = sendno
        self.rule = rule
        self.content = content
        self.createdAt = createdAt
        self.timeToLive = timeToLive
    }
}

/// A stored push with its `msg_id`.
public struct PushRecord: Sendable, Equatable {
    /// The push's `msg_id`.
    public var msgID: Int64
    /// The rest, as recorded.
    public var push: NewPush

    /// Creates a record.
    public init(msgID: Int64, push: NewPush) {
        self.msgID = msgID
        self.push = push
    }
}

/// One resolved account of a push, on its way into the store.
public struct NewDelivery: Sendable, Equatable {
    /// The account's id in the hub.
    public var userID: Int64
    /// The account's AppKey.
    public var appKey: String
    /// The account's username.
    public var username: String
    /// The alias the push addressed it by, if it came through one.
    public var alias: String?
    /// The devices the push was aimed at that stood for this account.
    public var registrationIDs: [String]
    /// The receipt deadline (ms), when the rule has one.
    public var dueAt: Int64?

    /// Creates a delivery.
    public init(userID: Int64, appKey: String, username: String, alias: String?, registrationIDs: [String],
                dueAt: Int64?) {
        self.userID = userID
        self.appKey = appKey
        self.username = username
        self.alias = alias
        self.registrationIDs = registrationIDs
        self.dueAt = dueAt
    }
}

/// Where a bridged message to one account stands.
public enum DeliveryStatus: String, Sendable, Equatable, CaseIterable {
    /// Recorded, not yet in the hub.
    case pending
    /// In the account's inbox, not yet acknowledged.
    case delivered
    /// Acknowledged by a device of the account.
    case received
    /// Dropped undelivered: its time to live ended, or it was online-only and the account was offline.
    case expired
    /// The hub refused it (the error says why).
    case failed
}

/// A stored delivery.
public struct DeliveryRecord: Sendable, Equatable {
    /// The push's `msg_id`.
    public var pushID: Int64
    /// The account's id.
    public var userID: Int64
    /// The account's AppKey.
    public var appKey: String
    /// The account's username.
    public var username: String
    /// The alias the push used, if any.
    public var alias: String?
    /// Where it stands.
    public var status: DeliveryStatus
    /// The hub's `msg_id` of the bridged message.
    public var hubMsgID: Int64?
    /// The inbox sequence number of the first bridged message.
    public var seq: Int64?
    /// When the inbox entry expires (ms).
    public var expiresAt: Int64?
    /// When it was received or expired (ms).
    public var outcomeAt: Int64?
    /// How many escalation steps ran.
    public var step: Int
    /// The next receipt deadline (ms).
    public var dueAt: Int64?
    /// The hub's refusal, if any.
    public var error: String?

    /// Creates a record.
    public init(pushID: Int64, userID: Int64, appKey: String, username: String, alias: String?, status: DeliveryStatus,
                hubMsgID: Int64?, seq: Int64?, expiresAt: Int64?, outcomeAt: Int64?, step: Int, dueAt: Int64?,
                error: String?) {
        self.pushID = pushID
        self.userID = userID
        self.appKey = appKey
        self.username = username
        self.alias = alias
        self.status = status
        self.hubMsgID = hubMsgID
        self.seq = seq
        self.expiresAt = expiresAt
        self.outcomeAt = outcomeAt
        self.step = step
        self.dueAt = dueAt
        self.error = error
    }
}

/// An escalation step that ran for a delivery.
public struct EscalationRecord: Sendable, Equatable {
    /// The push's `msg_id`.
    public var pushID: Int64
    /// The account's id.
    public var userID: Int64
    /// The step's index in the rule's `escalate` list.
    public var step: Int
    /// `resend`, `fallback` or `webhook`.
    public var action: String
    /// When it ran (ms).
    public var at: Int64
    /// `ok`, or what went wrong.
    public var outcome: String

    /// Creates a record.
    public init(pushID: Int64, userID: Int64, step: Int, action: String, at: Int64, outcome: String) {
        self.pushID = pushID
        self.userID = userID
        self.step = step
        self.action = action
        self.at = at
        self.outcome = outcome
    }
}
