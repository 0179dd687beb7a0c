import CoreMetrics
import Crypto
import Foundation
import IMClient
import IMProtocol
import Logging
import Synchronization

/// A bot: a robot account whose events go through its plugins and whose plugins' actions go out as messages
/// from the robot.
///
/// Every plugin has its own queue and worker, and every call has a time limit, so one plugin failing or hanging
/// never stops the bot or its other plugins. Messages from robots are ignored unless `listen.ignoreRobots` is off;
/// the bot's own messages always are.
///
/// ```swift
/// let bot = Bot(settings: .init(identity: .init(name: "echo", appKey: key, username: "echo_bot")),
///               plugins: [.init(SwiftBotPlugin(Echo(configuration: [:])))], storage: MemoryPluginStorage())
/// await bot.start()
/// await bot.serve(client)       // until the connection closes; call again after reconnecting
/// await bot.stop()
/// ```
public final class Bot: Sendable {
    /// Which messages reach the plugins.
    public struct ListenFilter: Sendable, Hashable {
        /// Which groups a bot listens to.
        public enum Groups: Sendable, Hashable {
            /// Every group the bot is a member of.
            case all
            /// No group.
            case none
            /// Only these gids.
            case only(Set<String>)
        }

        /// Whether single chats reach the plugins.
        public var single: Bool
        /// Which groups reach the plugins.
        public var groups: Groups
        /// Whether a group message must mention the bot to reach the plugins.
        public var mentionOnly: Bool
        /// Whether messages from other robots are dropped (the default, so bots never talk in a loop).
        public var ignoreRobots: Bool

        /// Creates a filter; the default listens to single chats and all groups, ignoring robots.
        public init(single: Bool = true, groups: Groups = .all, mentionOnly: Bool = false, ignoreRobots: Bool = true) {
            self.single = single
            self.groups = groups
            self.mentionOnly = mentionOnly
            self.ignoreRobots = ignoreRobots
        }

        /// Whether a group `gid` is listened to.
        public func listens(toGroup gid: String) -> Bool {
            switch groups {
            case .all: true
            case .none: false
            case .only(let ids): ids.contains(gid)
            }
        }
    }

    /// A bot's settings from `bots.yaml`.
    public struct Settings: Sendable {
        /// Who the bot is.
        public var identity: BotIdentity
        /// Which messages it handles.
        public var listen: ListenFilter
        /// Who holds which role, for commands' access checks.
        public var roles: RoleTable
        /// At most this many outgoing messages per `ratePeriod`; more are dropped and logged.
        public var rateLimit: Int
        /// The rate limit's period.
        public var ratePeriod: Duration
        /// The other bots of this daemon that may send through this bot (`send ... via`).
        public var acceptRelayFrom: Set<String>

        /// Creates settings; the default rate limit is 60 messages a minute.
        public init(identity: BotIdentity, listen: ListenFilter = .init(), roles: RoleTable = .init(),
                    rateLimit: Int = 60, ratePeriod: Duration = .seconds(60), acceptRelayFrom: Set<String> = []) {
            self.identity = identity
            self.listen = listen
            self.roles = roles
            self.rateLimit = rateLimit
            self.ratePeriod = ratePeriod
            self.acceptRelayFrom = acceptRelayFrom
        }
    }

    /// A plugin with its limits and the schedules `bots.yaml` adds to it.
    public struct Slot: Sendable {
        /// The plugin.
        public var plugin: any BotPlugin
        /// How long one event may take.
        public var timeout: Duration
        /// Schedules from the configuration, besides those the plugin declares.
        public var schedules: [Schedule]

        /// Creates a slot; the default time limit is 10 seconds.
        public init(_ plugin: any BotPlugin, timeout: Duration = .seconds(10), schedules: [Schedule] = []) {
            self.plugin = plugin
            self.timeout = timeout
            self.schedules = schedules
        }
    }

    /// The bot's settings.
    public let settings: Settings
    /// The bot's plugins, in order.
    public let slots: [Slot]
    let storage: any PluginStorage
    let clock: any BotClock
    let directory: BotDirectory?
    let logger: Logger
    let metrics: BotMetrics
    let uploader: (any MediaUploader)?
    /// Outgoing messages: concurrent across conversations, in order within one, so a plugin's worker moves on to
    /// its next event without waiting for each send to be stored.
    let sends = OrderedLanes<Conversation>(limit: 256)
    /// What the bot has been doing lately, for ``status()``.
    let activity = BotActivity()
    /// The inbox entries still being handled: each is acknowledged once its plugins and sends are done.
    let acks = EventAcks()

    /// An event in a plugin's queue, with the inbox entry it came from (none for `started` and ticks).
    struct Queued: Sendable {
        var event: BotEvent
        var seq: Int64?
    }

    private struct State {
        var connection: (any BotConnection)?
        var queues: [AsyncStream<Queued>.Continuation] = []
        var tasks: [Task<Void, Never>] = []
        var contexts: [PluginContext] = []
        var commands: [String: DeclaredCommand] = [:]
        var limiter: RateLimiter
        var started = false
        var announced = false
        var stopped = false
        var rateLimited = 0
        var rateLimitWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var schedules = 0
        /// Events queued for the plugins and not yet handled (their actions done).
        var inFlight = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var onlineWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    /// Creates a bot; nothing runs until ``start()``.
    public init(settings: Settings, plugins: [Slot], storage: any PluginStorage, clock: any BotClock = SystemBotClock(),
                directory: BotDirectory? = nil, logger: Logger = Logger(label: "mynah.bot"),
                metrics: any MetricsFactory = MetricsSystem.factory, uploader: (any MediaUploader)? = nil) {
        self.uploader = uploader
        self.metrics = BotMetrics(bot: settings.identity.name, plugins: plugins.map(\.plugin.id), factory: metrics)
        self.settings = settings
        self.slots = plugins
        self.storage = storage
        self.clock = clock
        self.directory = directory
        var logger = logger
        logger[metadataKey: "bot"] = "\(settings.identity.name)"
        self.logger = logger
        state = Mutex(State(limiter: RateLimiter(capacity: settings.rateLimit, period: settings.ratePeriod)))
    }

    /// The bot's name in `bots.yaml`.
    public var name: String { settings.identity.name }

    /// Starts the plugins, their workers and their schedules; a plugin that fails to start is logged and skipped.
    public func start() async {
        guard state.withLock({ s in defer { s.started = true }; return !s.started }) else { return }
        let identity = settings.identity
        let baseContexts = slots.map { slot in
            var logger = logger
            logger[metadataKey: "plugin"] = "\(slot.plugin.id)"
            return PluginContext(bot: identity, plugin: slot.plugin.id, commands: [], roles: settings.roles,
                                 store: PluginStore(storage: storage, bot: identity.name, plugin: slot.plugin.id),
                                 clock: clock, logger: logger)
        }
        await withTaskGroup(of: Void.self) { group in
            for (index, slot) in slots.enumerated() {
                let context = baseContexts[index]
                group.addTask {
                    do {
                        try await slot.plugin.start(context: context)
                    } catch {
                        context.logger.error("plugin failed to start", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        var table: [String: DeclaredCommand] = [:]
        var declared: [DeclaredCommand] = []
        var schedules: [[Schedule]] = []
        for slot in slots {
            for spec in await slot.plugin.commands() {
                let entry = DeclaredCommand(plugin: slot.plugin.id, spec: spec)
                if let other = table[spec.name] {
                    logger.warning("command declared twice; the first plugin keeps it",
                                   metadata: ["command": "\(spec.name)", "plugin": "\(slot.plugin.id)",
                                              "first": "\(other.plugin)"])
                    continue
                }
                table[spec.name] = entry
                declared.append(entry)
            }
            schedules.append(slot.schedules + (await slot.plugin.schedules()))
        }
        let contexts = baseContexts.map { context in
            var context = context
            context.commands = declared
            return context
        }
        var queues: [AsyncStream<Queued>.Continuation] = []
        var tasks: [Task<Void, Never>] = []
        for (index, slot) in slots.enumerated() {
            let (stream, continuation) = AsyncStream.makeStream(of: Queued.self, bufferingPolicy: .bufferingOldest(1024))
            queues.append(continuation)
            let context = contexts[index]
            tasks.append(Task { await self.work(stream, slot: slot, index: index, context: context) })
            for schedule in schedules[index] {
                tasks.append(Task { await self.tick(schedule, plugin: index, context: context) })
            }
        }
        let stopped = state.withLock { s in
            s.schedules = schedules.reduce(0) { $0 + $1.count }
            s.queues = queues
            s.tasks = tasks
            s.contexts = contexts
            s.commands = table
            return s.stopped
        }
        if stopped { await stop() }
        directory?.register(self)
    }

    /// Stops the workers and schedules, then the plugins.
    public func stop() async {
        let (queues, tasks, idle) = state.withLock { s in
            s.stopped = true
            s.inFlight = 0
            defer { s.queues = []; s.tasks = []; s.idleWaiters = []; s.onlineWaiters = [] }
            return (s.queues, s.tasks, s.idleWaiters + s.onlineWaiters)
        }
        idle.forEach { $0.resume() }
        directory?.unregister(self)
        queues.forEach { $0.finish() }
        tasks.forEach { $0.cancel() }
        // Messages the plugins already queued go out (or fail) before the plugins stop.
        await sends.drain()
        await withTaskGroup(of: Void.self) { group in
            for slot in slots { group.addTask { await slot.plugin.stop() } }
        }
    }

    /// Serves one connection until it closes: each event goes to the plugins' queues and is acknowledged once
    /// they have handled it and its replies are stored (``EventAcks``), so an entry in hand when the process
    /// dies is delivered again. The first connection also announces `started` to every plugin.
    public func serve(_ connection: any BotConnection) async {
        await start()
        let (announce, online) = state.withLock { s in
            s.connection = connection
            defer { s.announced = true; s.onlineWaiters = [] }
            return (!s.announced, s.onlineWaiters)
        }
        if announce { broadcast(.started) }
        online.forEach { $0.resume() }
        metrics.connection(up: true)
        activity.connection(up: true, now: clock.now())
        for await event in connection.inbox {
            switch acks.arrive(event.seq) {
            case .new: break
            case .pending: continue
            case .done:
                connection.ack(event.seq)
                continue
            }
            activity.event(now: clock.now())
            await dispatch(event)
            acknowledge(acks.release(event.seq))
        }
        metrics.connection(up: false)
        activity.connection(up: false, now: clock.now())
        state.withLock { s in
            if let current = s.connection, current as AnyObject === connection as AnyObject { s.connection = nil }
        }
    }

    /// Sends `event` to every plugin's queue; `seq` is the inbox entry it came from, held until each is done.
    func broadcast(_ event: BotEvent, seq: Int64? = nil) {
        for index in slots.indices { enqueue(event, plugin: index, seq: seq) }
    }

    func enqueue(_ event: BotEvent, plugin index: Int, seq: Int64? = nil) {
        guard let queue = state.withLock({ s -> AsyncStream<Queued>.Continuation? in
            guard s.queues.indices.contains(index) else { return nil }
            s.inFlight += 1
            return s.queues[index]
        }) else { return }
        if let seq { acks.retain(seq) }
        switch queue.yield(Queued(event: event, seq: seq)) {
        case .enqueued:
            break
        case .dropped:
            handled(seq)
            metrics.dropped(plugin: index)
            logger.warning("plugin queue full; event dropped", metadata: ["plugin": "\(slots[index].plugin.id)"])
        case .terminated:
            handled(seq)
        @unknown default:
            handled(seq)
        }
    }

    /// Acknowledges the inbox through `seq` on the current connection (the one that delivered it may be gone: the
    /// hub's inbox is the bot's, whichever session).
    private func acknowledge(_ seq: Int64?) {
        guard let seq, let connection = state.withLock({ $0.connection }) else { return }
        connection.ack(seq)
    }

    /// One queued event is done with (handled, failed or dropped); wakes ``waitUntilIdle()`` at zero, and releases
    /// the event's hold on its inbox entry.
    private func handled(_ seq: Int64?) {
        if let seq { acknowledge(acks.release(seq)) }
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.inFlight = max(0, s.inFlight - 1)
            guard s.inFlight == 0 else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        ready.forEach { $0.resume() }
    }

    /// Returns once the bot has been started and served its first connection (it is online and has announced
    /// `started`), so a test may talk to it knowing it handles events; or once it stopped.
    public func waitUntilOnline() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.announced || s.stopped { return true }
                s.onlineWaiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    /// Returns once every event queued for the plugins so far has been handled and the messages their actions
    /// sent are stored (or failed): what a test awaits before asserting that something did not happen.
    public func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.inFlight == 0 || s.stopped { return true }
                s.idleWaiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
        await sends.drain()
    }

    /// How many schedules (cron ticks) of its plugins the bot runs, once started: each sleeps on the bot's clock
    /// between its ticks.
    public var scheduleCount: Int { state.withLock { $0.schedules } }

    /// Turns one connection event into plugin events: filters, mentions, command parsing and access checks.
    func dispatch(_ event: ConnectionEvent) async {
        switch event {
        case .delivery(let delivery):
            guard var incoming = incomingMessage(for: delivery) else { return }
            let table = state.withLock { $0.commands }
            switch CommandMatcher(prefix: settings.identity.commandPrefix, botUsername: settings.identity.username)
                .match(incoming, table: table, roles: settings.roles) {
            case .none:
                broadcast(.message(incoming), seq: event.seq)
            case .command(let command):
                incoming.command = command
                if let index = slots.firstIndex(where: { $0.plugin.id == command.plugin }) {
                    enqueue(.message(incoming), plugin: index, seq: event.seq)
                }
            case .refused(let answer):
                await sendLogged(to: incoming.conversation, body: .text(answer))
            }
        case .membersJoined(let change, _):
            guard let change = othersIn(change) else { return }
            broadcast(.membersJoined(change), seq: event.seq)
        case .membersLeft(let change, _):
            guard let change = othersIn(change) else { return }
            broadcast(.membersLeft(change), seq: event.seq)
        case .other:
            break
        }
    }

    /// The change without the bot itself (a bot does not greet itself), or `nil` when nobody else is in it or
    /// the bot does not listen to the group.
    func othersIn(_ change: MembershipChange) -> MembershipChange? {
        guard listens(to: change.conversation) else { return nil }
        var change = change
        change.usernames.removeAll { $0 == settings.identity.username }
        return change.usernames.isEmpty ? nil : change
    }

    func listens(to conversation: Conversation) -> Bool {
        switch conversation.type {
        case .single: settings.listen.single
        case .group, .chatroom: settings.listen.listens(toGroup: conversation.id)
        }
    }

    /// The message a delivery stands for, or `nil` when the bot ignores it: its own messages, robots' messages
    /// (unless told otherwise) and conversations it does not listen to.
    public func incomingMessage(for delivery: ServerFrame.Delivery) -> IncomingMessage? {
        let m = delivery.stored.message
        let identity = settings.identity
        if m.fromID == identity.username && (m.fromAppKey ?? identity.appKey) == identity.appKey { return nil }
        if m.fromType == .robot && settings.listen.ignoreRobots { return nil }
        let conversation: Conversation
        switch m.targetType {
        case .single:
            conversation = Conversation(type: .single, id: m.fromID,
                                        appKey: m.fromAppKey == identity.appKey ? nil : m.fromAppKey)
        case .group, .chatroom:
            conversation = Conversation(type: m.targetType, id: m.targetID,
                                        appKey: m.targetAppKey == identity.appKey ? nil : m.targetAppKey)
        }
        guard listens(to: conversation) else { return nil }
        let mentions = Mentions.of(m.body)
        let mentionsBot = mentions.contains(identity.username)
        if conversation.type != .single && settings.listen.mentionOnly && !mentionsBot { return nil }
        return IncomingMessage(stored: delivery.stored, conversation: conversation, mentions: mentions,
                               mentionsBot: mentionsBot)
    }

    /// The event a delivery stands for (a message), or `nil` when the bot ignores it.
    public func event(for delivery: ServerFrame.Delivery) -> BotEvent? {
        incomingMessage(for: delivery).map(BotEvent.message)
    }

    /// One plugin's worker: its events in order, each with the plugin's time limit, its actions performed.
    func work(_ events: AsyncStream<Queued>, slot: Slot, index: Int, context: PluginContext) async {
        for await queued in events {
            let goOn = await process(queued.event, seq: queued.seq, slot: slot, index: index, context: context)
            handled(queued.seq)
            if !goOn { return }
        }
    }

    /// Handles one event of a plugin's queue; `false` when the worker was cancelled.
    private func process(_ event: BotEvent, seq: Int64?, slot: Slot, index: Int, context: PluginContext) async -> Bool {
        let actions: [BotAction]
        var start = ContinuousClock.now
        do {
            // A restarting program is waited for first: the time limit is the plugin's, from the event's delivery.
            try await slot.plugin.ready()
            start = .now
            actions = try await withTimeout(slot.timeout) { try await slot.plugin.handle(event, context: context) }
            metrics.handled(Self.kind(of: event), plugin: index, duration: start.duration(to: .now), failed: false)
        } catch is CancellationError {
            return false
        } catch {
            metrics.handled(Self.kind(of: event), plugin: index, duration: start.duration(to: .now), failed: true)
            context.logger.error("plugin failed", metadata: ["error": "\(error)", "event": "\(Self.kind(of: event))"])
            activity.failure(plugin: slot.plugin.id, message: "\(Self.kind(of: event)): \(error)", now: clock.now())
            // A tick the plugin failed on is done with (logged), as one it handled: only a crash leaves it open.
            await finish(event, sending: [], plugin: slot.plugin.id, context: context)
            return true
        }
        // Sends go out pipelined; a `store` waits for the sends before it (a reminder is deleted only once its
        // message is stored), and a tick is recorded as handled only once all of its sends are done.
        var sending: [Task<Void, Never>] = []
        for (offset, action) in actions.enumerated() {
            if case .store = action {
                for task in sending { await task.value }
                sending = []
            }
            do {
                let id = requestID(for: action, event: event, seq: seq, plugin: slot.plugin.id, offset: offset)
                if let task = try await perform(action, for: event, seq: seq, context: context, plugin: index,
                                                requestID: id) {
                    sending.append(task)
                }
            } catch {
                metrics.action(plugin: index, failed: true)
                context.logger.error("action failed", metadata: ["error": "\(error)"])
                activity.failure(plugin: slot.plugin.id, message: "action: \(error)", now: clock.now())
            }
        }
        await finish(event, sending: sending, plugin: slot.plugin.id, context: context)
        return true
    }

    /// Records a tick as handled once the sends it made are done, so that no node fires it again.
    private func finish(_ event: BotEvent, sending: [Task<Void, Never>], plugin: String, context: PluginContext) async {
        guard case .tick(let tick) = event else { return }
        for task in sending { await task.value }
        do {
            try await storage.finishTick(bot: name, plugin: plugin, schedule: tick.schedule, due: tick.scheduledAt)
        } catch {
            context.logger.error("could not record a tick as handled", metadata: ["error": "\(error)"])
        }
    }

    /// The idempotency key of a send: the plugin's own (`requestID`), or one derived from the inbox entry or tick
    /// it answers and its place among the actions, so that handling the same entry or tick again (on another node,
    /// after a crash) stores each message once. Scoped by bot and plugin; hashed when longer than the hub's 128.
    func requestID(for action: BotAction, event: BotEvent, seq: Int64?, plugin: String, offset: Int) -> String? {
        let key: String
        switch action {
        case .send(_, _, _, let explicit?):
            key = "bot:\(name):\(plugin):id:\(explicit)"
        case .send, .reply, .attach:
            if case .tick(let tick) = event {
                key = "bot:\(name):\(plugin):tick:\(tick.schedule):\(tick.scheduledAt):\(offset)"
            } else if let seq {
                key = "bot:\(name):\(plugin):seq:\(seq):\(offset)"
            } else {
                return nil
            }
        case .store:
            return nil
        }
        guard key.utf8.count > 128 else { return key }
        return "bot:sha256:" + SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// How far back (ms) a bot that starts catches up a missed tick of a schedule: the last one due within this
    /// window after the last claimed tick fires once at start (a tick due while the bot had no node, during a
    /// failover or a restart); older ones are skipped and logged.
    public static let tickCatchUp: Int64 = 5 * 60_000
    /// How long (ms) a claimed tick stays with its node before another may fire it again if it was not handled.
    static let tickLease: Int64 = 60_000

    /// Fires `schedule` for one plugin until the bot stops: first the tick it missed (see ``tickCatchUp``), then
    /// each tick as it falls due. Each tick is claimed in the plugin storage first, so that of several nodes
    /// running the bot at once (a lease changing hands) one fires it, and a tick is never fired twice.
    func tick(_ schedule: Schedule, plugin index: Int, context: PluginContext) async {
        let plugin = slots[index].plugin.id
        // The missed tick fires once the bot is online, so that its messages can go out.
        await waitUntilOnline()
        if Task.isCancelled { return }
        if case let (due, takeOver)? = await missedTick(schedule, plugin: plugin, context: context),
           await claimTick(schedule, plugin: plugin, due: due, takeOver: takeOver, context: context) {
            context.logger.notice("catching up a missed tick", metadata: ["schedule": "\(schedule.name)", "due": "\(due)"])
            enqueue(.tick(Tick(schedule: schedule.name, scheduledAt: due)), plugin: index)
        }
        while !Task.isCancelled {
            let now = Date(timeIntervalSince1970: Double(clock.now()) / 1000)
            guard let next = schedule.cron.next(after: now) else {
                context.logger.warning("schedule never fires again", metadata: ["schedule": "\(schedule.name)"])
                return
            }
            let due = Self.millis(next)
            do {
                try await clock.sleep(until: due)
            } catch {
                return
            }
            guard await claimTick(schedule, plugin: plugin, due: due, takeOver: false, context: context) else { continue }
            enqueue(.tick(Tick(schedule: schedule.name, scheduledAt: due)), plugin: index)
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    /// The tick to catch up at start, if any: the last claimed one when it was not handled (its node died; it is
    /// taken over, its sends keep their request ids), else the latest one due since it within ``tickCatchUp``.
    func missedTick(_ schedule: Schedule, plugin: String, context: PluginContext) async -> (Int64, Bool)? {
        let last: TickClaim?
        do {
            last = try await storage.lastTick(bot: name, plugin: plugin, schedule: schedule.name)
        } catch {
            context.logger.error("could not read the last tick", metadata: ["schedule": "\(schedule.name)",
                                                                             "error": "\(error)"])
            return nil
        }
        // A schedule never claimed before starts with its next tick.
        guard let last else { return nil }
        let now = clock.now()
        let earliest = now - Self.tickCatchUp
        if !last.done, last.due >= earliest, last.due <= now { return (last.due, true) }
        if let first = schedule.cron.next(after: Self.date(last.due)), Self.millis(first) < earliest {
            context.logger.notice("ticks missed more than the catch-up window ago are skipped",
                                  metadata: ["schedule": "\(schedule.name)", "first": "\(Self.millis(first))"])
        }
        var after = Self.date(max(last.due, earliest - 1))
        var latest: Int64?
        while let next = schedule.cron.next(after: after), Self.millis(next) <= now {
            latest = Self.millis(next)
            after = next
        }
        return latest.map { ($0, false) }
    }

    /// Claims one tick for this node; `false` when another node fired it (or a storage error, logged).
    func claimTick(_ schedule: Schedule, plugin: String, due: Int64, takeOver: Bool, context: PluginContext) async
        -> Bool {
        let now = clock.now()
        do {
            // Taking over an unhandled tick at start: the node that claimed it no longer holds the bot's lease.
            return try await storage.claimTick(bot: name, plugin: plugin, schedule: schedule.name, due: due, now: now,
                                               until: now + Self.tickLease, takeOver: takeOver)
        } catch {
            context.logger.error("could not claim a tick; skipped", metadata: ["schedule": "\(schedule.name)",
                                                                                "error": "\(error)"])
            return false
        }
    }

    static func kind(of event: BotEvent) -> String {
        switch event {
        case .message: "message"
        case .membersJoined: "members_joined"
        case .membersLeft: "members_left"
        case .started: "started"
        case .tick: "tick"
        }
    }

    /// Carries out one action of plugin `index`. Messages (attachments included) are queued behind the earlier
    /// ones to the same conversation and sent without waiting; their outcome is counted and a failure logged there.
    /// Each send holds `seq`, the inbox entry being answered, until it is stored or has failed, and goes out with
    /// `requestID` (see ``requestID(for:event:seq:plugin:offset:)``); a queued send's task is returned.
    @discardableResult
    func perform(_ action: BotAction, for event: BotEvent, seq: Int64? = nil, context: PluginContext,
                 plugin index: Int, requestID: String? = nil) async throws -> Task<Void, Never>? {
        switch action {
        case .reply(let body):
            guard let conversation = event.conversation else {
                throw BotError("a reply to a '\(Self.kind(of: event))' event has no conversation; use send")
            }
            return await pipelined(to: conversation, seq: seq, context: context, plugin: index) {
                try await self.send(to: conversation, body: body, requestID: requestID)
            }
        case .send(let conversation, let body, let via, _):
            if let via, via != name {
                guard let other = directory?.bot(named: via) else { throw BotError("no running bot named '\(via)'") }
                return await pipelined(to: conversation, seq: seq, context: context, plugin: index) {
                    try await other.relay(from: self.name, to: conversation, body: body, requestID: requestID)
                }
            } else {
                return await pipelined(to: conversation, seq: seq, context: context, plugin: index) {
                    try await self.send(to: conversation, body: body, requestID: requestID)
                }
            }
        case .store(let key, let value):
            try await context.store.set(key, value)
            metrics.action(plugin: index, failed: false)
            return nil
        case .attach(let attachment, let to):
            guard let conversation = to ?? event.conversation else {
                throw BotError("an attachment in answer to a '\(Self.kind(of: event))' event needs 'to'")
            }
            guard let uploader else {
                throw BotError("this bot cannot upload attachments (a remote hub needs hub.master_secret)")
            }
            let appKey = conversation.appKey ?? settings.identity.appKey
            return await pipelined(to: conversation, seq: seq, context: context, plugin: index) {
                // The upload happens only once the rate limit and the connection allow the message.
                try await self.send(to: conversation, requestID: requestID) {
                    try await uploader.upload(attachment, appKey: appKey)
                }
            }
        }
    }

    /// Queues a send to `conversation` after the earlier ones; counts its outcome and logs its failure.
    private func pipelined(to conversation: Conversation, seq: Int64?, context: PluginContext, plugin index: Int,
                           _ send: @escaping @Sendable () async throws -> Void) async -> Task<Void, Never> {
        if let seq { acks.retain(seq) }
        return await sends.submit(laneKey(conversation)) {
            defer { if let seq { self.acknowledge(self.acks.release(seq)) } }
            do {
                try await send()
                self.metrics.action(plugin: index, failed: false)
            } catch {
                self.metrics.action(plugin: index, failed: true)
                context.logger.error("action failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The conversation as the hub resolves it, so that one conversation spelled two ways (the bot's own AppKey
    /// or none, a gid with a leading zero) is one lane and keeps its order.
    func laneKey(_ c: Conversation) -> Conversation {
        let appKey = c.appKey.flatMap { $0.isEmpty || $0 == settings.identity.appKey ? nil : $0 }
        switch c.type {
        case .single: return Conversation(type: c.type, id: c.id, appKey: appKey)
        case .group, .chatroom: return Conversation(type: c.type, id: Int64(c.id).map(String.init) ?? c.id, appKey: appKey)
        }
    }

    /// Waits until every message the plugins have queued so far has been sent (or has failed).
    public func flushSends() async {
        await sends.drain()
    }

    /// Sends on behalf of another bot of the daemon, if this bot accepts it (`accept_relay_from`).
    func relay(from bot: String, to conversation: Conversation, body: MessageBody, requestID: String? = nil)
        async throws {
        guard settings.acceptRelayFrom.contains(bot) else {
            throw BotError("bot '\(name)' does not accept messages from bot '\(bot)' (accept_relay_from)")
        }
        try await send(to: conversation, body: body, requestID: requestID)
    }

    /// Sends as the robot, within the rate limit; a `requestID` the hub has seen from the robot stores nothing new.
    public func send(to conversation: Conversation, body: MessageBody, requestID: String? = nil) async throws {
        try await send(to: conversation, requestID: requestID) { body }
    }

    /// Sends as the robot, within the rate limit; the body is made (an attachment uploaded) only once the rate
    /// limit and the connection allow the message, so a throttled or offline bot stores nothing.
    func send(to conversation: Conversation, requestID: String? = nil, makeBody: () async throws -> MessageBody)
        async throws {
        let (connection, allowed, ready) = state.withLock { s in
            let allowed = s.limiter.take(now: clock.now())
            if allowed { return (s.connection, true, [CheckedContinuation<Void, Never>]()) }
            s.rateLimited += 1
            let ready = s.rateLimitWaiters.filter { $0.count <= s.rateLimited }.map(\.continuation)
            s.rateLimitWaiters.removeAll { $0.count <= s.rateLimited }
            return (s.connection, false, ready)
        }
        ready.forEach { $0.resume() }
        guard allowed else {
            metrics.send(limited: true)
            throw BotError("rate limit of \(settings.rateLimit) messages per \(settings.ratePeriod) reached; dropped")
        }
        guard let connection else { throw BotError("not connected; message dropped") }
        let identity = settings.identity
        let targetAppKey = conversation.appKey.flatMap { $0 == identity.appKey ? nil : $0 }
        _ = try await connection.send(.init(requestID: requestID, targetType: conversation.type, targetID: conversation.id,
                                            targetAppKey: targetAppKey, body: try await makeBody()))
        metrics.send(limited: false)
    }

    /// Reports the bot's connection to its hub going up or down (the client reconnects on its own in between).
    public func connectionChanged(up: Bool) {
        metrics.connection(up: up)
        activity.connection(up: up, now: clock.now())
    }

    /// Drops the bot's metrics series: for a bot removed from the configuration, whose series would otherwise
    /// report it as disconnected forever.
    public func forgetMetrics() { metrics.forget() }

    /// How many messages the rate limit has dropped since the bot was created.
    public var rateLimitedCount: Int { state.withLock { $0.rateLimited } }

    /// Returns once the rate limit has dropped at least `count` messages.
    public func waitForRateLimited(_ count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.rateLimited >= count { return true }
                s.rateLimitWaiters.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    func sendLogged(to conversation: Conversation, body: MessageBody) async {
        do {
            try await send(to: conversation, body: body)
        } catch {
            logger.error("send failed", metadata: ["error": "\(error)"])
        }
    }
}

/// A failure of the bot runtime, logged with the bot's name.
public struct BotError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// The running bots of one daemon by name, so that one bot can send through another (relays across AppKeys).
public final class BotDirectory: Sendable {
    private struct State {
        var bots: [String: Bot] = [:]
        var waiters: [(name: String, replacing: Bot?, continuation: CheckedContinuation<Bot, Never>)] = []
    }

    private let state = Mutex(State())

    /// An empty directory.
    public init() {}

    /// The running bot named `name`.
    public func bot(named name: String) -> Bot? { state.withLock { $0.bots[name] } }

    /// The bot named `name` once it has started (at once if it runs), other than `replacing` when given (a bot
    /// a reload replaces): how a test finds a bot the daemon starts.
    public func waitForBot(named name: String, replacing old: Bot? = nil) async -> Bot {
        await withCheckedContinuation { (c: CheckedContinuation<Bot, Never>) in
            let bot = state.withLock { s -> Bot? in
                if let bot = s.bots[name], bot !== old { return bot }
                s.waiters.append((name, old, c))
                return nil
            }
            if let bot { c.resume(returning: bot) }
        }
    }

    func register(_ bot: Bot) {
        let ready = state.withLock { s -> [CheckedContinuation<Bot, Never>] in
            s.bots[bot.name] = bot
            let wakes = { (w: (name: String, replacing: Bot?, continuation: CheckedContinuation<Bot, Never>)) in
                w.name == bot.name && w.replacing !== bot
            }
            let ready = s.waiters.filter(wakes).map(\.continuation)
            s.waiters.removeAll(where: wakes)
            return ready
        }
        ready.forEach { $0.resume(returning: bot) }
    }

    func unregister(_ bot: Bot) {
        state.withLock { s in
            if s.bots[bot.name] === bot { s.bots[bot.name] = nil }
        }
    }
}
