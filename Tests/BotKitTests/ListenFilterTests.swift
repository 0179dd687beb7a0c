import BotKit
import IMProtocol
import Testing

/// Which deliveries become events: the bot's own and robots' messages, single chats, groups and mentions.
@Suite struct ListenFilterTests {
    static func delivery(_ text: String, from: String = "alice", fromType: FromType = .user, group: String? = nil,
                         extras: [String: JSONValue]? = nil) -> ServerFrame.Delivery {
        let message = Message(targetType: group == nil ? .single : .group, targetID: group ?? "helper_bot",
                              fromType: fromType, fromID: from, fromAppKey: "app", fromPlatform: "web",
                              createTime: 1, body: .text(text, extras: extras))
        return ServerFrame.Delivery(seq: 1, stored: StoredMessage(msgID: 1, msgCtime: 1000, message: message))
    }

    static func bot(_ listen: Bot.ListenFilter) -> Bot {
        Bot(settings: .init(identity: .init(name: "helper", appKey: "app", username: "helper_bot"), listen: listen),
            plugins: [], storage: MemoryPluginStorage())
    }

    @Test func robotsAndTheBotItselfAreIgnoredByDefault() {
        let bot = Self.bot(.init())
        #expect(bot.incomingMessage(for: Self.delivery("hi"))?.conversation == .single("alice"))
        #expect(bot.incomingMessage(for: Self.delivery("hi", from: "other_bot", fromType: .robot)) == nil)
        #expect(bot.incomingMessage(for: Self.delivery("hi", from: "helper_bot", fromType: .robot)) == nil)
        let listening = Self.bot(.init(ignoreRobots: false))
        #expect(listening.incomingMessage(for: Self.delivery("hi", from: "other_bot", fromType: .robot)) != nil)
        #expect(listening.incomingMessage(for: Self.delivery("hi", from: "helper_bot", fromType: .robot)) == nil)
    }

    @Test func groupsCanBeChosenAndRequireAMention() {
        let some = Self.bot(.init(single: false, groups: .only(["g1"])))
        #expect(some.incomingMessage(for: Self.delivery("hi")) == nil)
        #expect(some.incomingMessage(for: Self.delivery("hi", group: "g1"))?.conversation == .group("g1"))
        #expect(some.incomingMessage(for: Self.delivery("hi", group: "g2")) == nil)
        let mentioned = Self.bot(.init(mentionOnly: true))
        #expect(mentioned.incomingMessage(for: Self.delivery("hi all", group: "g1")) == nil)
        let m = mentioned.incomingMessage(for: Self.delivery("hi @helper_bot and @bob", group: "g1"))
        #expect(m?.mentionsBot == true)
        #expect(m?.mentions == ["helper_bot", "bob"])
        #expect(mentioned.incomingMessage(for: Self.delivery("hi", group: "g1", extras: ["mentions": ["helper_bot"]])) != nil)
        #expect(mentioned.incomingMessage(for: Self.delivery("no mention needed")) != nil)  // single chats
        #expect(Self.bot(.init(groups: .none)).incomingMessage(for: Self.delivery("hi", group: "g1")) == nil)
    }
}
