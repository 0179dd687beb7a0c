import Foundation
import IMProtocol
import Synchronization

/// An app's sensitive-word filter: whether it is on, and its words, longest first so that the longest match wins.
public struct SensitiveFilter: Sendable, Equatable {
    /// Whether text messages are filtered.
    public var isOn: Bool
    /// The listed words, longest first.
    public var words: [String]

    /// Creates a filter.
    public init(isOn: Bool, words: [String]) {
        self.isOn = isOn
        self.words = words.filter { !$0.isEmpty }.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// The text with every listed word replaced by as many `*` as it has characters.
    public func mask(_ text: String) -> String {
        guard isOn, !words.isEmpty else { return text }
        var result = text
        for word in words where result.contains(word) {
            result = result.replacingOccurrences(of: word, with: String(repeating: "*", count: word.count))
        }
        return result
    }
}

extension Hub {
    /// How long after sending a message may be retracted: 3 minutes, as in JMessage.
    public static let retractWindowMillis: Int64 = 180_000

    /// The app's sensitive-word filter (cached until it changes).
    public func sensitiveFilter(appKey: String) async throws(HubError) -> SensitiveFilter? {
        if let cached = sensitiveCache.withLock({ $0[appKey] }) { return cached }
        let on = try await storing { try await store.sensitiveFilter(appKey: appKey) }
        var words: [String] = []
        if on {
            var start = 0
            while true {
                let page = try await storing { try await store.sensitiveWords(appKey: appKey, start: start, count: 1000) }
                words += page.items
                start += page.items.count
                if page.items.isEmpty || start >= page.total { break }
            }
        }
        let filter = SensitiveFilter(isOn: on, words: words)
        sensitiveCache.withLock { $0[appKey] = filter }
        return filter
    }

    /// Adds words to the app's list; each is 1 to 10 characters.
    public func addSensitiveWords(appKey: String, _ words: [String]) async throws(HubError) {
        for (i, w) in words.enumerated() where w.isEmpty || w.count > 10 {
            throw HubError.invalid("[\(i)]", "a sensitive word has 1 to 10 characters")
        }
        try await storing { try await store.addSensitiveWords(appKey: appKey, words, now: now()) }
        sensitiveCache.withLock { $0[appKey] = nil }
    }

    /// Replaces a word; 899003 when the old one is not listed.
    public func replaceSensitiveWord(appKey: String, old: String, new: String) async throws(HubError) {
        guard !new.isEmpty, new.count <= 10 else { throw HubError.invalid("new_word", "a sensitive word has 1 to 10 characters") }
        guard try await storing({ try await store.replaceSensitiveWord(appKey: appKey, old: old, new: new, now: now()) }) else {
            throw HubError.invalid("old_word", "'\(old)' is not a sensitive word")
        }
        sensitiveCache.withLock { $0[appKey] = nil }
    }

    /// Deletes a word; 899003 when it is not listed.
    public func deleteSensitiveWord(appKey: String, _ word: String) async throws(HubError) {
        guard try await storing({ try await store.deleteSensitiveWord(appKey: appKey, word) }) else {
            throw HubError.invalid("word", "'\(word)' is not a sensitive word")
        }
        sensitiveCache.withLock { $0[appKey] = nil }
    }

    /// One page of the app's words.
    public func sensitiveWords(appKey: String, start: Int, count: Int) async throws(HubError) -> Page<String> {
        try await storing { try await store.sensitiveWords(appKey: appKey, start: start, count: count) }
    }

    /// Turns the app's filter on or off.
    public func setSensitiveFilter(appKey: String, _ on: Bool) async throws(HubError) {
        try await storing { try await store.setSensitiveFilter(appKey: appKey, on) }
        sensitiveCache.withLock { $0[appKey] = nil }
    }

    /// Retracts a message `username` sent less than 3 minutes ago: it leaves the history and undelivered inboxes,
    /// and everyone who received it (and the sender's devices) gets a `message_retracted` event.
    /// Errors: 855003 not found, 855002 not the sender, 855004 already retracted, 855001 too late.
    public func retract(appKey: String, username: String, msgID: Int64) async throws(HubError) {
        let sender = try await user(appKey: appKey, username: username)
        // A message of another app is not found here, so that ids of other apps are not revealed.
        guard let record = try await storing({ try await store.messageRecord(msgID: msgID) }),
              (record.stored.message.fromAppKey ?? appKey) == appKey else {
            throw HubError(.retractNotFound, "message \(msgID) does not exist")
        }
        guard record.senderUserID == sender.id else {
            throw HubError(.retractNotSender, "message \(msgID) was not sent by '\(username)'")
        }
        guard !record.retracted else { throw HubError(.alreadyRetracted, "message \(msgID) was already retracted") }
        guard now() - record.stored.msgCtime <= Self.retractWindowMillis else {
            throw HubError(.retractTooLate, "message \(msgID) is older than 3 minutes")
        }
        let holders = try await storing { try await store.markRetracted(msgID: msgID) }
        let m = record.stored.message
        let gid = m.targetType == .group ? Int64(m.targetID) : nil
        await emit(ChatEvent(kind: .messageRetracted, appKey: m.targetAppKey ?? appKey, gid: gid, by: username, msgID: msgID,
                             ctime: now()),
                   to: holders.contains(sender.id) ? holders : holders + [sender.id])
    }
}
