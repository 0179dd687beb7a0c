import BotKit
import Foundation
import IMProtocol
import Testing

@testable import Mynah

/// Every key of a bot and of a plugin entry in `bots.yaml` (docs/configuration.md, "bots" and "plugins"): the typed
/// values they parse into, their defaults, and the errors, each with its line, column and path.
///
/// Each YAML below is appended to ``header``, which takes lines 1 to 8: the text of a test starts on line 9, with the
/// bot's keys at column 5 and a plugin entry's keys at column 9.
@Suite struct BotConfigurationTests {
    /// One app `k1` and the required keys of one bot, `helper`; lines 1 to 8.
    static let header = """
        apps:
          - appkey: k1
            master_secret: s1
        bots:
          - name: helper
            appkey: k1
            username: helper_bot
            password: pass1

        """

    static func parse(_ rest: String, environment: [String: String] = [:]) throws(ConfigurationError)
        -> MynahConfiguration {
        try ConfigurationLoader.parse(yaml: header + rest, fileName: "bots.yaml", environment: environment)
    }

    /// The only bot of `header + rest`.
    static func bot(_ rest: String, environment: [String: String] = [:]) throws -> MynahConfiguration.Bot {
        let bots = try parse(rest, environment: environment).bots
        try #require(bots.count == 1)
        return bots[0]
    }

    /// The only plugin of the only bot of `header + rest`.
    static func plugin(_ rest: String, environment: [String: String] = [:]) throws -> MynahConfiguration.Plugin {
        let plugins = try bot(rest, environment: environment).plugins
        try #require(plugins.count == 1)
        return plugins[0]
    }

    /// The error parsing `header + rest` gives, or `nil` (recorded as an issue) when it parses.
    static func failure(
        _ rest: String,
        environment: [String: String] = [:],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> ConfigurationError? {
        do {
            let configuration = try parse(rest, environment: environment)
            Issue.record("expected an error, got \(configuration.bots)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// Expects `header + rest` to fail with exactly `expected` (`bots.yaml:LINE:COLUMN: PATH: MESSAGE`).
    static func expectError(
        _ rest: String,
        _ expected: String,
        environment: [String: String] = [:],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        guard let error = failure(rest, environment: environment, sourceLocation: sourceLocation) else { return }
        #expect(error.description == expected, sourceLocation: sourceLocation)
        #expect(error.location?.file == "bots.yaml", sourceLocation: sourceLocation)
    }

    /// A YAML fragment (from line 9) and the exact error it gives.
    struct ErrorCase: Sendable, CustomTestStringConvertible {
        let yaml: String
        let error: String
        init(_ yaml: String, _ error: String) {
            self.yaml = yaml
            self.error = error
        }
        var testDescription: String { error }
    }

    // MARK: - Bot keys: typed values and defaults

    @Test func botWithEveryKeyParsesIntoTypedValues() throws {
        let bot = try Self.bot("""
                nickname: Helper
                avatar: media-42
                listen:
                  single: false
                  groups: ["10086", 10087]
                  mention_only: true
                  ignore_robots: false
                roles:
                  admin: alice
                  staff: [alice, other-app/bob]
                rate_limit: { messages: 30, per: 90s }
                command_prefix: "!"
                accept_relay_from: [relay-bot, bridge_bot]
                hub:
                  url: wss://gateway.example.com/ws
                plugins:
                  - swift: echo
            """)
        #expect(bot.name == "helper" && bot.appKey == "k1" && bot.nickname == "Helper")
        #expect(bot.location == .init(file: "bots.yaml", line: 5, column: 5))
        let expected = MynahConfiguration.BotOptions(
            listen: .init(single: false, groups: .only(["10086", "10087"]), mentionOnly: true, ignoreRobots: false),
            roles: ["admin": ["alice"], "staff": ["alice", "other-app/bob"]],
            rateLimit: 30,
            ratePeriod: .seconds(90),
            commandPrefix: "!",
            acceptRelayFrom: ["relay-bot", "bridge_bot"],
            avatar: "media-42",
            hubURL: "wss://gateway.example.com/ws"
        )
        #expect(bot.options == expected)
    }

    @Test func botWithoutOptionalKeysGetsTheDefaults() throws {
        let bot = try Self.bot("""
                plugins:
                  - swift: echo
            """)
        let options = bot.options
        #expect(options == MynahConfiguration.BotOptions())
        #expect(options.listen.single && !options.listen.mentionOnly && options.listen.ignoreRobots)
        #expect(options.listen.groups == .all)
        #expect(options.roles.isEmpty && options.acceptRelayFrom.isEmpty)
        #expect(options.rateLimit == 60 && options.ratePeriod == .seconds(60))
        #expect(options.commandPrefix == "/")
        #expect(options.avatar == nil && options.hubURL == nil)
    }

    @Test func emptyValuesOfOptionalBotKeysMeanTheirDefaults() throws {
        let bot = try Self.bot("""
                avatar:
                listen:
                rate_limit:
                command_prefix:
                accept_relay_from:
                hub:
                plugins:
                  - swift: echo
            """)
        #expect(bot.options == MynahConfiguration.BotOptions())
        let partial = try Self.bot("""
                listen: { single: ~ }
                rate_limit: { messages: 5 }
                plugins:
                  - swift: echo
            """)
        #expect(partial.options.listen == .init())
        #expect(partial.options.rateLimit == 5 && partial.options.ratePeriod == .seconds(60))
    }

    @Test(arguments: [
        ("all", BotKit.Bot.ListenFilter.Groups.all),
        ("none", BotKit.Bot.ListenFilter.Groups.none),
        ("[]", BotKit.Bot.ListenFilter.Groups.only([])),
        ("[g1, g1, 42]", BotKit.Bot.ListenFilter.Groups.only(["g1", "42"])),
    ])
    func listenGroupsIsAllNoneOrAListOfGroupIDs(yaml: String, expected: BotKit.Bot.ListenFilter.Groups) throws {
        let bot = try Self.bot("""
                listen: { groups: \(yaml) }
                plugins:
                  - swift: echo
            """)
        #expect(bot.options.listen.groups == expected)
    }

    @Test func listenBooleansTakeEveryYAMLSpelling() throws {
        let bot = try Self.bot("""
                listen: { single: no, mention_only: On, ignore_robots: FALSE }
                plugins:
                  - swift: echo
            """)
        #expect(bot.options.listen == .init(single: false, groups: .all, mentionOnly: true, ignoreRobots: false))
    }

    @Test func aRoleMayListOneMemberOrNone() throws {
        let bot = try Self.bot("""
                roles:
                  owner: 0042
                  nobody: []
                plugins:
                  - swift: echo
            """)
        #expect(bot.options.roles == ["owner": ["0042"], "nobody": []])
    }

    @Test func aBotOnARemoteHubMayUseAnAppKeyThatIsNotConfigured() throws {
        let bot = try Self.bot("""
                hub: { url: "ws://10.0.0.7:8080/gateway" }
                plugins:
                  - swift: echo
            """)
        #expect(bot.options.hubURL == "ws://10.0.0.7:8080/gateway")
        let remote = try ConfigurationLoader.parse(yaml: """
            bots:
              - name: remote
                appkey: elsewhere
                username: remote_bot
                password: pass1
                hub: { url: "wss://other.example.com" }
                plugins:
                  - swift: echo
            """, fileName: "bots.yaml", environment: [:])
        #expect(remote.bots.first?.appKey == "elsewhere")
        #expect(remote.bots.first?.options.hubURL == "wss://other.example.com")
    }

    @Test func relaySendersAreNotCheckedByTheReader() throws {
        // `accept_relay_from` must name bots of the file, but that is checked when the bots are set up
        // (`BotRuntime.validate`), not while reading: the reader only keeps the names.
        let bot = try Self.bot("""
                accept_relay_from: nobody
                plugins:
                  - swift: echo
            """)
        #expect(bot.options.acceptRelayFrom == ["nobody"])
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("5s", .seconds(5)),
        ("90", .seconds(90)),
        ("1m", .seconds(60)),
        ("12h", .seconds(12 * 3600)),
        ("7d", .seconds(7 * 86400)),
        ("\"2m\"", .seconds(120)),
    ])
    func durationsTakeAUnitOrAreSeconds(yaml: String, expected: Duration) throws {
        let bot = try Self.bot("""
                rate_limit: { per: \(yaml) }
                plugins:
                  - exec: ./plugin
                    timeout: \(yaml)
                    restart: { backoff: \(yaml), max_backoff: \(yaml) }
            """)
        #expect(bot.options.ratePeriod == expected)
        let plugin = try #require(bot.plugins.first)
        #expect(plugin.options.timeout == expected)
        #expect(plugin.options.exec?.backoff == expected && plugin.options.exec?.maxBackoff == expected)
    }

    @Test func botValuesMayComeFromTheEnvironment() throws {
        let bot = try Self.bot("""
                rate_limit:
                  messages: ${RATE:-20}
                  per: ${PERIOD}
                command_prefix: ${PREFIX:-!}
                hub: { url: "${HUB_URL}" }
                plugins:
                  - swift: echo
            """, environment: ["PERIOD": "30s", "HUB_URL": "wss://hub.example.com"])
        #expect(bot.options.rateLimit == 20 && bot.options.ratePeriod == .seconds(30))
        #expect(bot.options.commandPrefix == "!")
        #expect(bot.options.hubURL == "wss://hub.example.com")
    }

    // MARK: - Bot keys: errors

    @Test(arguments: [
        ErrorCase("""
                rate_limits: { messages: 5 }
                plugins: [swift: echo]
            """, "bots.yaml:9:5: bots[0]: unknown key 'rate_limits'; did you mean 'rate_limit'?"),
        ErrorCase("""
                mention_only: true
                plugins: [swift: echo]
            """, "bots.yaml:9:5: bots[0]: unknown key 'mention_only'"),
        ErrorCase("""
                listen: { singel: true }
                plugins: [swift: echo]
            """, "bots.yaml:9:15: bots[0].listen: unknown key 'singel'; did you mean 'single'?"),
        ErrorCase("""
                listen:
                  groups: all
                  ignore_robot: false
                plugins: [swift: echo]
            """, "bots.yaml:11:7: bots[0].listen: unknown key 'ignore_robot'; did you mean 'ignore_robots'?"),
        ErrorCase("""
                rate_limit:
                  message: 5
                plugins: [swift: echo]
            """, "bots.yaml:10:7: bots[0].rate_limit: unknown key 'message'; did you mean 'messages'?"),
        ErrorCase("""
                hub:
                  uri: ws://gateway.example.com
                plugins: [swift: echo]
            """, "bots.yaml:10:7: bots[0].hub: unknown key 'uri'; did you mean 'url'?"),
    ])
    func unknownBotKeysAreErrorsAtTheKey(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                listen:
                  single: "false"
                plugins: [swift: echo]
            """,
            "bots.yaml:10:15: bots[0].listen.single: expected a boolean (true or false), got 'false' (a quoted string)"),
        ErrorCase("""
                listen:
                  mention_only: maybe
                plugins: [swift: echo]
            """, "bots.yaml:10:21: bots[0].listen.mention_only: expected a boolean (true or false), got 'maybe'"),
        ErrorCase("""
                listen:
                  ignore_robots: 1
                plugins: [swift: echo]
            """, "bots.yaml:10:22: bots[0].listen.ignore_robots: expected a boolean (true or false), got '1'"),
        ErrorCase("""
                listen: [single]
                plugins: [swift: echo]
            """, "bots.yaml:9:13: bots[0].listen: expected a mapping, got a list"),
        ErrorCase("""
                listen:
                  groups: some
                plugins: [swift: echo]
            """, "bots.yaml:10:15: bots[0].listen.groups: expected all, none or a list of group ids, got 'some'"),
        ErrorCase("""
                listen:
                  groups: 10086
                plugins: [swift: echo]
            """, "bots.yaml:10:15: bots[0].listen.groups: expected all, none or a list of group ids, got '10086'"),
        ErrorCase("""
                listen:
                  groups: ["10086", ""]
                plugins: [swift: echo]
            """, "bots.yaml:10:25: bots[0].listen.groups[1]: expected a non-empty string, got an empty value"),
    ])
    func listenValuesAreTyped(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                rate_limit:
                  messages: 0
                plugins: [swift: echo]
            """, "bots.yaml:10:17: bots[0].rate_limit.messages: expected at least 1, got 0"),
        ErrorCase("""
                rate_limit:
                  messages: -5
                plugins: [swift: echo]
            """, "bots.yaml:10:17: bots[0].rate_limit.messages: expected at least 1, got -5"),
        ErrorCase("""
                rate_limit:
                  messages: ten
                plugins: [swift: echo]
            """, "bots.yaml:10:17: bots[0].rate_limit.messages: expected an integer, got 'ten'"),
        ErrorCase("""
                rate_limit:
                  messages: "10"
                plugins: [swift: echo]
            """, "bots.yaml:10:17: bots[0].rate_limit.messages: expected an integer, got '10' (a quoted string)"),
        ErrorCase("""
                rate_limit: 60
                plugins: [swift: echo]
            """, "bots.yaml:9:17: bots[0].rate_limit: expected a mapping, got '60'"),
    ])
    func rateLimitMessagesIsAPositiveInteger(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: ["1.5m", "0s", "0", "-1m", "soon", "1m30s", "5 s", "ms", "1M", "999999999d"])
    func badDurationsAreErrorsAtTheValue(text: String) {
        Self.expectError("""
                rate_limit:
                  per: \(text)
                plugins: [swift: echo]
            """,
            "bots.yaml:10:12: bots[0].rate_limit.per: expected a positive duration such as 250ms, 5s, 1m or 12h, "
                + "got '\(text)'")
    }

    @Test(arguments: [
        ErrorCase("""
                command_prefix: "! "
                plugins: [swift: echo]
            """, "bots.yaml:9:21: bots[0].command_prefix: expected a non-empty prefix without spaces, got '! '"),
        ErrorCase("""
                command_prefix: ""
                plugins: [swift: echo]
            """, "bots.yaml:9:21: bots[0].command_prefix: expected a non-empty prefix without spaces, got ''"),
        ErrorCase("""
                roles: [alice, bob]
                plugins: [swift: echo]
            """, "bots.yaml:9:12: bots[0].roles: expected a mapping, got a list"),
        ErrorCase("""
                roles:
                  staff: [alice, ""]
                plugins: [swift: echo]
            """, "bots.yaml:10:22: bots[0].roles.staff[1]: expected a non-empty string, got an empty value"),
        ErrorCase("""
                roles:
                  staff: { alice: true }
                plugins: [swift: echo]
            """, "bots.yaml:10:14: bots[0].roles.staff: expected a list, got a mapping"),
        ErrorCase("""
                accept_relay_from: { bot: other }
                plugins: [swift: echo]
            """, "bots.yaml:9:24: bots[0].accept_relay_from: expected a list, got a mapping"),
        ErrorCase("""
                avatar: [a, b]
                plugins: [swift: echo]
            """, "bots.yaml:9:13: bots[0].avatar: expected a string, got a list"),
    ])
    func prefixRolesRelaysAndAvatarAreTyped(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                hub:
                  url: http://gateway.example.com
                plugins: [swift: echo]
            """,
            "bots.yaml:10:12: bots[0].hub.url: expected a ws:// or wss:// URL of a Mynah gateway, "
                + "got 'http://gateway.example.com'"),
        ErrorCase("""
                hub:
                  url: "wss://"
                plugins: [swift: echo]
            """, "bots.yaml:10:12: bots[0].hub.url: expected a ws:// or wss:// URL of a Mynah gateway, got 'wss://'"),
        ErrorCase("""
                hub:
                  url: gateway.example.com
                plugins: [swift: echo]
            """,
            "bots.yaml:10:12: bots[0].hub.url: expected a ws:// or wss:// URL of a Mynah gateway, "
                + "got 'gateway.example.com'"),
        ErrorCase("""
                hub: {}
                plugins: [swift: echo]
            """, "bots.yaml:9:10: bots[0].hub.url: missing required key"),
        ErrorCase("""
                hub: wss://gateway.example.com
                plugins: [swift: echo]
            """, "bots.yaml:9:10: bots[0].hub: expected a mapping, got 'wss://gateway.example.com'"),
    ])
    func hubURLIsAWebSocketURL(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    // MARK: - Plugins: typed values and defaults

    @Test func swiftPluginWithEveryKey() throws {
        let plugin = try Self.plugin("""
                plugins:
                  - swift: echo
                    id: echo-2
                    timeout: 3s
                    config: { prefix: "> ", n: 2 }
                    schedules:
                      - name: tick
                        cron: "*/5 * * * *"
            """)
        #expect(plugin.swift == "echo")
        #expect(plugin.displayName == "swift: echo")
        #expect(plugin.config == ["prefix": "> ", "n": 2])
        #expect(plugin.location == .init(file: "bots.yaml", line: 10, column: 9))
        let expected = MynahConfiguration.PluginOptions(
            id: "echo-2",
            timeout: .seconds(3),
            schedules: [.init(name: "tick", cron: try CronSchedule("*/5 * * * *", timeZone: .gmt))]
        )
        #expect(plugin.options == expected)
    }

    @Test func swiftPluginDefaults() throws {
        let plugin = try Self.plugin("""
                plugins:
                  - swift: echo
                    config:
                    id:
                    timeout:
                    schedules:
            """)
        #expect(plugin.swift == "echo" && plugin.config == .object([:]))
        #expect(plugin.options == MynahConfiguration.PluginOptions())
        #expect(plugin.options.id == nil && plugin.options.timeout == .seconds(10) && plugin.options.schedules.isEmpty)
        #expect(plugin.options.exec == nil && plugin.options.webhook == nil)
    }

    @Test func execPluginWithEveryKey() throws {
        let plugin = try Self.plugin("""
                plugins:
                  - exec: python3 Plugins/examples/shout.py   --loud
                    id: shout
                    timeout: 5s
                    env:
                      TOKEN: ${SHOUT_TOKEN}
                      LEVEL: 3
                      "MIXED case": "x y"
                    restart: { backoff: 500ms, max_backoff: 2m, quarantine_after: 3 }
                    schedules:
                      - { name: morning, cron: "0 8 * * mon-fri", time_zone: Europe/Berlin }
                      - name: hourly
                        cron: "0 * * * *"
                    config: { verbose: true }
            """, environment: ["SHOUT_TOKEN": "t0k3n"])
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        #expect(plugin.swift == "")
        #expect(plugin.displayName == "exec: python3 Plugins/examples/shout.py --loud")
        #expect(plugin.config == ["verbose": true])
        let expected = MynahConfiguration.PluginOptions(
            id: "shout",
            timeout: .seconds(5),
            schedules: [
                .init(name: "morning", cron: try CronSchedule("0 8 * * mon-fri", timeZone: berlin)),
                .init(name: "hourly", cron: try CronSchedule("0 * * * *", timeZone: .gmt)),
            ],
            exec: .init(
                command: ["python3", "Plugins/examples/shout.py", "--loud"],
                environment: ["TOKEN": "t0k3n", "LEVEL": "3", "MIXED case": "x y"],
                backoff: .milliseconds(500),
                maxBackoff: .seconds(120),
                quarantineAfter: 3
            )
        )
        #expect(plugin.options == expected)
        #expect(plugin.options.schedules.first?.cron.timeZone.identifier == "Europe/Berlin")
        #expect(plugin.options.schedules.last?.cron.timeZone == .gmt)
    }

    @Test func execPluginAsAListAndItsDefaults() throws {
        let plugin = try Self.plugin("""
                plugins:
                  - exec: [python3, "my plugin.py", 42]
                    restart:
            """)
        let exec = try #require(plugin.options.exec)
        #expect(exec == .init(command: ["python3", "my plugin.py", "42"]))
        #expect(exec.environment.isEmpty)
        #expect(exec.backoff == .seconds(1) && exec.maxBackoff == .seconds(60) && exec.quarantineAfter == 5)
        #expect(plugin.options.webhook == nil && plugin.options.id == nil && plugin.options.timeout == .seconds(10))
        let partial = try Self.plugin("""
                plugins:
                  - exec: ./plugin
                    restart: { quarantine_after: 1 }
            """)
        #expect(partial.options.exec == .init(command: ["./plugin"], quarantineAfter: 1))
    }

    @Test func webhookPluginWithEveryKey() throws {
        let plugin = try Self.plugin("""
                plugins:
                  - webhook: https://hooks.example.com/mynah?v=1
                    id: hooks
                    secret: ${HOOK_SECRET}
                    retries: 5
                    timeout: 250ms
                    schedules:
                      - { name: nightly, cron: "30 2 * * *", time_zone: Asia/Tokyo }
            """, environment: ["HOOK_SECRET": "s3cr3t"])
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        #expect(plugin.swift == "")
        #expect(plugin.displayName == "webhook: https://hooks.example.com/mynah?v=1")
        let expected = MynahConfiguration.PluginOptions(
            id: "hooks",
            timeout: .milliseconds(250),
            schedules: [.init(name: "nightly", cron: try CronSchedule("30 2 * * *", timeZone: tokyo))],
            webhook: .init(url: "https://hooks.example.com/mynah?v=1", secret: "s3cr3t", retries: 5)
        )
        #expect(plugin.options == expected)
    }

    @Test func webhookPluginDefaultsAndInterpolatedValues() throws {
        let plain = try Self.plugin("""
                plugins:
                  - webhook: http://localhost:9000/hook
                    secret:
            """)
        #expect(plain.options.webhook == .init(url: "http://localhost:9000/hook", secret: nil, retries: 2))
        #expect(plain.options.exec == nil && plain.options.id == nil)
        let interpolated = try Self.plugin("""
                plugins:
                  - webhook: ${HOOK_URL:-https://fallback.example.com}
                    secret: ${HOOK_SECRET:-dev-secret}
                    retries: ${HOOK_RETRIES:-0}
            """)
        #expect(interpolated.options.webhook == .init(url: "https://fallback.example.com", secret: "dev-secret", retries: 0))
        let fromEnvironment = try Self.plugin("""
                plugins:
                  - webhook: ${HOOK_URL:-https://fallback.example.com}
                    retries: ${HOOK_RETRIES:-0}
            """, environment: ["HOOK_URL": "https://prod.example.com/h", "HOOK_RETRIES": "10"])
        #expect(fromEnvironment.options.webhook == .init(url: "https://prod.example.com/h", retries: 10))
    }

    @Test func pluginsOfEveryKindKeepTheirOrderAndLocations() throws {
        let bot = try Self.bot("""
                plugins:
                  - swift: echo
                  - exec: ./a
                  - webhook: https://b.example.com
            """)
        #expect(bot.plugins.map(\.displayName) == ["swift: echo", "exec: ./a", "webhook: https://b.example.com"])
        #expect(bot.plugins.map(\.location.line) == [10, 11, 12])
        #expect(bot.plugins.allSatisfy { $0.location.column == 9 })
    }

    // MARK: - Plugins: errors

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - swift: echo
                    timout: 1s
            """, "bots.yaml:11:9: bots[0].plugins[0]: unknown key 'timout'; did you mean 'timeout'?"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart:
                      max_backof: 1s
            """, "bots.yaml:12:11: bots[0].plugins[0].restart: unknown key 'max_backof'; did you mean 'max_backoff'?"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart: { attempts: 3 }
            """, "bots.yaml:11:20: bots[0].plugins[0].restart: unknown key 'attempts'"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: a
                        cron: "* * * * *"
                        timezone: UTC
            """, "bots.yaml:14:13: bots[0].plugins[0].schedules[0]: unknown key 'timezone'; did you mean 'time_zone'?"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    schedules:
                      - { name: a, cron: "* * * * *" }
                      - { name: b, cron: "* * * * *", every: 5m }
            """, "bots.yaml:13:43: bots[0].plugins[0].schedules[1]: unknown key 'every'"),
    ])
    func unknownPluginKeysAreErrorsAtTheKey(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - swift: echo
                    exec: ./x
            """, "bots.yaml:11:9: bots[0].plugins[0]: a plugin is one of swift, exec or webhook, not swift and exec"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    webhook: https://a.example.com
            """, "bots.yaml:11:9: bots[0].plugins[0]: a plugin is one of swift, exec or webhook, not exec and webhook"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    swift: echo
                    exec: ./x
            """,
            // The kinds are named in the order swift, exec, webhook, at the second of them (`exec`), whatever the file's order.
            "bots.yaml:12:9: bots[0].plugins[0]: a plugin is one of swift, exec or webhook, not swift and exec and webhook"),
        ErrorCase("""
                plugins:
                  - id: lonely
                    timeout: 1s
            """, "bots.yaml:10:9: bots[0].plugins[0].swift: missing required key"),
        ErrorCase("""
                plugins:
                  - swift: ""
            """, "bots.yaml:10:16: bots[0].plugins[0].swift: must not be empty"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    config: [prefix]
            """, "bots.yaml:11:17: bots[0].plugins[0].config: expected a mapping, got a list"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    id: bad id
            """, "bots.yaml:11:13: bots[0].plugins[0].id: expected one or more of the characters A-Z a-z 0-9 _ -, got 'bad id'"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    id: ""
            """, "bots.yaml:11:13: bots[0].plugins[0].id: expected one or more of the characters A-Z a-z 0-9 _ -, got ''"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    timeout: soon
            """,
            "bots.yaml:11:18: bots[0].plugins[0].timeout: expected a positive duration such as 250ms, 5s, 1m or 12h, got 'soon'"),
    ])
    func pluginKindIdAndTimeoutAreChecked(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - exec: []
            """, "bots.yaml:10:15: bots[0].plugins[0].exec: expected a command line such as 'python3 plugins/weather.py'"),
        ErrorCase("""
                plugins:
                  - exec: "  "
            """, "bots.yaml:10:15: bots[0].plugins[0].exec: expected a command line such as 'python3 plugins/weather.py'"),
        ErrorCase("""
                plugins:
                  - exec:
            """, "bots.yaml:10:9: bots[0].plugins[0].exec: expected a command line such as 'python3 plugins/weather.py'"),
        ErrorCase("""
                plugins:
                  - exec: [python3, ""]
            """, "bots.yaml:10:25: bots[0].plugins[0].exec[1]: expected a non-empty string, got an empty value"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    env: [TOKEN=1]
            """, "bots.yaml:11:14: bots[0].plugins[0].env: expected a mapping, got a list"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    env: { TOKEN: [a] }
            """, "bots.yaml:11:23: bots[0].plugins[0].env.TOKEN: expected a string, got a list"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    env: { TOKEN: x }
            """, "bots.yaml:11:14: bots[0].plugins[0].env: 'env' applies to exec plugins only"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    restart: { backoff: 1s }
            """, "bots.yaml:11:18: bots[0].plugins[0].restart: 'restart' applies to exec plugins only"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart:
                      quarantine_after: 0
            """, "bots.yaml:12:29: bots[0].plugins[0].restart.quarantine_after: expected at least 1, got 0"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart:
                      quarantine_after: often
            """, "bots.yaml:12:29: bots[0].plugins[0].restart.quarantine_after: expected an integer, got 'often'"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart:
                      backoff: 1x
            """,
            "bots.yaml:12:20: bots[0].plugins[0].restart.backoff: expected a positive duration such as 250ms, 5s, 1m or 12h, got '1x'"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart: { max_backoff: 0ms }
            """,
            "bots.yaml:11:33: bots[0].plugins[0].restart.max_backoff: expected a positive duration such as 250ms, 5s, 1m or 12h, got '0ms'"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    restart: 5s
            """, "bots.yaml:11:18: bots[0].plugins[0].restart: expected a mapping, got '5s'"),
    ])
    func execCommandEnvironmentAndRestartAreChecked(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: a
                        cron: "61 * * * *"
            """, "bots.yaml:13:19: bots[0].plugins[0].schedules[0].cron: minute: 61 is out of range 0-59"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: a
                        cron: "* * *"
            """,
            "bots.yaml:13:19: bots[0].plugins[0].schedules[0].cron: "
                + "expected 5 fields (minute hour day-of-month month day-of-week), got 3"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: a
                        cron: "* * * * *"
                        time_zone: Mars/Olympus
            """,
            "bots.yaml:14:24: bots[0].plugins[0].schedules[0].time_zone: unknown time zone 'Mars/Olympus'; "
                + "expected an IANA name such as Europe/Berlin"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    schedules:
                      - { name: a, cron: "0 8 * * *", time_zone: Europe/Berlin }
                      - { name: b, cron: "0 8 * * *", time_zone: Berlin }
            """,
            "bots.yaml:13:54: bots[0].plugins[0].schedules[1].time_zone: unknown time zone 'Berlin'; "
                + "expected an IANA name such as Europe/Berlin"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - cron: "* * * * *"
            """, "bots.yaml:12:13: bots[0].plugins[0].schedules[0].name: missing required key"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: a
            """, "bots.yaml:12:13: bots[0].plugins[0].schedules[0].cron: missing required key"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules:
                      - name: ""
                        cron: "* * * * *"
            """, "bots.yaml:12:19: bots[0].plugins[0].schedules[0].name: must not be empty"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules: [morning]
            """, "bots.yaml:11:21: bots[0].plugins[0].schedules[0]: expected a mapping, got 'morning'"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    schedules: { name: a, cron: "* * * * *" }
            """, "bots.yaml:11:20: bots[0].plugins[0].schedules: expected a list, got a mapping"),
    ])
    func schedulesAreChecked(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - webhook: ftp://example.com/x
            """, "bots.yaml:10:18: bots[0].plugins[0].webhook: expected an http:// or https:// URL, got 'ftp://example.com/x'"),
        ErrorCase("""
                plugins:
                  - webhook: wss://example.com/x
            """, "bots.yaml:10:18: bots[0].plugins[0].webhook: expected an http:// or https:// URL, got 'wss://example.com/x'"),
        ErrorCase("""
                plugins:
                  - webhook: "https://"
            """, "bots.yaml:10:18: bots[0].plugins[0].webhook: expected an http:// or https:// URL, got 'https://'"),
        ErrorCase("""
                plugins:
                  - webhook:
            """, "bots.yaml:10:9: bots[0].plugins[0].webhook: expected an http:// or https:// URL, got ''"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    retries: 11
            """, "bots.yaml:11:18: bots[0].plugins[0].retries: expected 0 to 10, got 11"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    retries: -1
            """, "bots.yaml:11:18: bots[0].plugins[0].retries: expected 0 to 10, got -1"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    retries: "3"
            """, "bots.yaml:11:18: bots[0].plugins[0].retries: expected an integer, got '3' (a quoted string)"),
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    secret: ""
            """, "bots.yaml:11:17: bots[0].plugins[0].secret: must not be empty"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    secret: s
            """, "bots.yaml:11:17: bots[0].plugins[0].secret: 'secret' applies to webhook plugins only"),
        ErrorCase("""
                plugins:
                  - swift: echo
                    retries: 3
            """, "bots.yaml:11:18: bots[0].plugins[0].retries: 'retries' applies to webhook plugins only"),
    ])
    func webhookURLSecretAndRetriesAreChecked(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    // MARK: - Environment variables

    @Test(arguments: [
        ErrorCase("""
                plugins:
                  - webhook: https://a.example.com
                    secret: ${HOOK_SECRET}
            """, "bots.yaml:11:17: bots[0].plugins[0].secret: environment variable 'HOOK_SECRET' is not set"),
        ErrorCase("""
                plugins:
                  - webhook: ${HOOK_URL}
            """, "bots.yaml:10:18: bots[0].plugins[0].webhook: environment variable 'HOOK_URL' is not set"),
        ErrorCase("""
                plugins:
                  - exec: ./x
                    env:
                      TOKEN: ${SHOUT_TOKEN}
            """, "bots.yaml:12:18: bots[0].plugins[0].env.TOKEN: environment variable 'SHOUT_TOKEN' is not set"),
        ErrorCase("""
                plugins:
                  - exec: ${PYTHON} plugin.py
            """, "bots.yaml:10:15: bots[0].plugins[0].exec: environment variable 'PYTHON' is not set"),
        ErrorCase("""
                hub:
                  url: ${HUB_URL}
                plugins: [swift: echo]
            """, "bots.yaml:10:12: bots[0].hub.url: environment variable 'HUB_URL' is not set"),
        ErrorCase("""
                roles:
                  staff: [alice, "${STAFF_MEMBER}"]
                plugins: [swift: echo]
            """, "bots.yaml:10:22: bots[0].roles.staff[1]: environment variable 'STAFF_MEMBER' is not set"),
        ErrorCase("""
                rate_limit:
                  messages: ${RATE}
                plugins: [swift: echo]
            """, "bots.yaml:10:17: bots[0].rate_limit.messages: environment variable 'RATE' is not set"),
    ])
    func aMissingEnvironmentVariableIsNamedAtItsValue(_ test: ErrorCase) {
        Self.expectError(test.yaml, test.error)
    }

    @Test func aQuotedEnvironmentVariableSetToEmptyIsAnEmptySecret() {
        Self.expectError("""
                plugins:
                  - webhook: https://a.example.com
                    secret: "${HOOK_SECRET}"
            """, "bots.yaml:11:17: bots[0].plugins[0].secret: must not be empty", environment: ["HOOK_SECRET": ""])
    }

    // MARK: - Empty values

    /// "An optional key with no value gets its default": `roles:` and `env:` too, like every other optional mapping.
    @Test func emptyRolesAndEnvMeanTheirDefaults() throws {
        let bot = try Self.bot("""
                roles:
                plugins: [swift: echo]
            """)
        #expect(bot.options.roles.isEmpty)
        let plugin = try Self.plugin("""
                plugins:
                  - exec: ./x
                    env:
            """)
        #expect(plugin.options.exec?.environment == [:])
    }

    /// A variable set to nothing is an empty string, never an absent key: an unquoted `${HOOK_SECRET}` that expands
    /// to nothing is refused like `secret: ""`, instead of silently running the webhook without a signature.
    @Test func anUnquotedSecretFromAnEmptyVariableIsRefusedNotDropped() {
        let error = Self.failure("""
                plugins:
                  - webhook: https://a.example.com
                    secret: ${HOOK_SECRET}
            """, environment: ["HOOK_SECRET": ""])
        #expect(error?.description == "bots.yaml:11:17: bots[0].plugins[0].secret: must not be empty")
    }
}
