import BotKit
import IMProtocol
import Testing

/// Commands parse, describe themselves and check access from their one declaration.
@Suite struct CommandTests {
    let remind = CommandSpec(name: "remind", arguments: [.init(name: "when"), .init(name: "text", kind: .rest)],
                             help: "Remind later")
    let roll = CommandSpec(name: "roll", arguments: [.init(name: "sides", kind: .integer, optional: true)],
                           help: "Roll a die", roles: ["players"])

    @Test func argumentsAreReadByKind() throws {
        #expect(try remind.parse(arguments: "  10m  buy milk, eggs ").get() == ["when": "10m", "text": "buy milk, eggs"])
        #expect(try remind.parse(arguments: #""in a bit" tea"#).get() == ["when": "in a bit", "text": "tea"])
        #expect(try roll.parse(arguments: " 20").get() == ["sides": 20])
        #expect(try roll.parse(arguments: "").get() == [:])
    }

    @Test func badInvocationsSayWhy() {
        #expect(remind.parse(arguments: "") == .failure(CommandError("missing argument <when>")))
        #expect(remind.parse(arguments: "10m") == .failure(CommandError("missing argument <text>")))
        #expect(roll.parse(arguments: "six") == .failure(CommandError("<sides> must be an integer, got 'six'")))
        #expect(roll.parse(arguments: "6 7") == .failure(CommandError("unexpected '7'")))
        #expect(remind.parse(arguments: "\"10m tea") == .failure(CommandError("unterminated quote in <when>")))
    }

    @Test func usageComesFromTheDeclaration() {
        #expect(remind.usage(prefix: "/") == "/remind <when> <text...>")
        #expect(roll.usage(prefix: "!") == "!roll [sides]")
    }

    @Test func rolesAreGrantedPerUserAndApp() {
        let roles = RoleTable(["players": ["alice", "other-app/bob"]], appKey: "app")
        #expect(roles.allows(["players"], username: "alice", appKey: "app"))
        #expect(!roles.allows(["players"], username: "alice", appKey: "other-app"))
        #expect(roles.allows(["players"], username: "bob", appKey: "other-app"))
        #expect(!roles.allows(["players"], username: "carol", appKey: "app"))
        #expect(roles.allows([], username: "carol", appKey: "app"))
    }

    @Test func declarationsRoundTripThroughJSON() throws {
        #expect(try CommandSpec(json: remind.json, path: "c") == remind)
        #expect(try CommandSpec(json: roll.json, path: "c") == roll)
        #expect(throws: ProtocolError(path: "c.args[1]", reason: "no argument may follow a 'rest' argument")) {
            try CommandSpec(json: ["name": "x", "args": [["name": "a", "kind": "rest"], ["name": "b"]]], path: "c")
        }
    }
}

/// The rate limiter is a token bucket over millisecond times.
@Suite struct RateLimiterTests {
    @Test func aBurstUpToCapacityThenOnePerRefill() {
        var limiter = RateLimiter(capacity: 2, period: .seconds(60))
        let times: [Int64] = [0, 0, 1000, 30_000, 30_001, 200_000, 200_000, 200_000]
        let taken = times.map { limiter.take(now: $0) }
        // Half a period refills one of two; a long pause never fills more than the capacity.
        #expect(taken == [true, true, false, true, false, true, true, false])
    }
}

/// Mentions and the JSON form of actions.
@Suite struct VocabularyTests {
    @Test func mentionsComeFromTextAndExtras() {
        #expect(Mentions.of(.text("hey @alice and @bob_b.", extras: nil)) == ["alice", "bob_b"])
        #expect(Mentions.of(.text("mail me at a@b.c", extras: nil)) == [])
        #expect(Mentions.of(.text("hi", extras: ["mentions": ["carol", "alice"]])) == ["carol", "alice"])
    }

    @Test func actionsAreReadWithTheirPath() throws {
        let actions = try BotAction.list([
            ["type": "reply", "text": "hi"],
            ["type": "send", "to": ["type": "group", "id": "42"], "msg_type": "text", "msg_body": ["text": "yo"]],
            ["type": "store", "key": "k", "value": 3],
        ], path: "actions")
        #expect(actions == [.reply(.text("hi")), .send(to: .group("42"), body: .text("yo")), .store(key: "k", value: 3)])
        #expect(throws: ProtocolError(path: "actions[0].type", reason: "expected reply, send or store, got 'shout'")) {
            try BotAction.list([["type": "shout"]], path: "actions")
        }
        #expect(throws: ProtocolError(path: "actions[0].to.id", reason: "expected a non-empty string")) {
            try BotAction.list([["type": "send", "to": ["type": "single"], "text": "x"]], path: "actions")
        }
        #expect(throws: ProtocolError.self) {
            try BotAction.list([["type": "reply", "msg_type": "image", "msg_body": [:]]], path: "actions")
        }
        for action in actions { #expect(try BotAction(json: action.json, path: "") == action) }
    }
}
