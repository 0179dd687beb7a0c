import Synchronization

/// Which inbox entries a bot is done with, so that it acknowledges an entry only once every plugin has handled
/// it and the messages their actions sent are stored (or failed). A bot whose process dies mid-way leaves the
/// entry unacknowledged, and the hub delivers it again to the bot's next session (on another node, after a
/// restart): at least once across crashes, where acknowledging at dispatch lost it.
///
/// Each entry is held from its arrival until the holds taken for it (the dispatch, each plugin's queue, each
/// send) are released; acknowledgements follow arrival order, so entry N is acknowledged only when every entry
/// that arrived before it is done too. Entries redelivered after a reconnect while this process still holds
/// them, or recently finished, are recognised, so within one process each reaches the plugins once.
final class EventAcks: Sendable {
    /// What ``arrive(_:)`` found.
    enum Arrival: Equatable {
        /// A new entry, now held by its dispatch.
        case new
        /// An entry still held (redelivered after a reconnect): drop it, its acknowledgement will come.
        case pending
        /// An entry already done (its acknowledgement may not have reached the hub): acknowledge it again.
        case done
    }

    private struct State {
        var holds: [Int64: Int] = [:]
        var order: [Int64] = []
        var head = 0
        var recent = Set<Int64>()
        var recentOrder: [Int64] = []
        var recentHead = 0
    }

    /// How many finished entries are remembered to recognise redeliveries.
    static let remembered = 4096

    private let state = Mutex(State())

    /// Starts holding `seq` for its dispatch, unless it is held already or was done recently.
    func arrive(_ seq: Int64) -> Arrival {
        state.withLock { s in
            if s.holds[seq] != nil { return .pending }
            if s.recent.contains(seq) { return .done }
            s.holds[seq] = 1
            s.order.append(seq)
            return .new
        }
    }

    /// Takes one more hold on `seq` (a plugin's queue, a send).
    func retain(_ seq: Int64) {
        state.withLock { s in
            if let n = s.holds[seq] { s.holds[seq] = n + 1 }
        }
    }

    /// Releases one hold on `seq`; the highest sequence number that may be acknowledged now, when entries became
    /// done in arrival order.
    func release(_ seq: Int64) -> Int64? {
        state.withLock { s in
            guard let n = s.holds[seq] else { return nil }
            s.holds[seq] = n - 1
            guard n == 1 else { return nil }
            var highest: Int64?
            while s.head < s.order.count, let first = s.holds[s.order[s.head]], first == 0 {
                let done = s.order[s.head]
                s.holds[done] = nil
                s.head += 1
                highest = max(highest ?? done, done)
                s.recent.insert(done)
                s.recentOrder.append(done)
                if s.recentOrder.count - s.recentHead > Self.remembered {
                    s.recent.remove(s.recentOrder[s.recentHead])
                    s.recentHead += 1
                }
            }
            // Drop what the heads have passed once it is most of the array, so both stay bounded.
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if s.recentHead > 1024 && s.recentHead * 2 > s.recentOrder.count {
                s.recentOrder.removeFirst(s.recentHead)
                s.recentHead = 0
            }
            return highest
        }
    }

    /// How many entries are held (arrived and not yet acknowledgeable).
    var heldCount: Int { state.withLock { $0.holds.count } }
}
