import Bridge
import Testing
import MynahTesting
@testable import Mynah

/// The `bridge:` section of `bots.yaml`.
@Suite struct BridgeConfigurationTests {
    static let head = """
        apps:
          - appkey: shop
            master_secret: s1
          - appkey: chat
            master_secret: s2
        bridge:

        """

    static func parse(_ bridge: String) throws(ConfigurationError) -> MynahConfiguration {
        try ConfigurationLoader.parse(yaml: head + bridge, fileName: "bots.yaml", environment: [:])
    }

    @Test func aFullSectionIsRead() throws {
        let config = try Self.parse("""
              rate_limit: {requests: 100, per: 10m}
              rules:
                - name: orders
                  push_appkey: shop
                  accounts_appkey: chat
                  alias: "uid_{username}"
                  robot: order_bot
                  message: "Order {extras.order_id}: {alert}"
                  receipt:
                    within: 10m
                    escalate:
                      - resend
                      - fallback: {type: group, id: "10001", robot: ops_bot}
                      - webhook: {url: "https://ops.example.com/hook"}
                - name: plain
                  push_appkey: chat
                  robot: chat_bot
            """)
        let section = config.bridge.configuration
        #expect(section.rateLimit == RateLimit(requests: 100, per: .seconds(600)))
        #expect(section.rules.count == 2)
        let rule = section.rules[0]
        #expect(rule.pushAppKey == "shop")
        #expect(rule.accountsAppKey == "chat")
        #expect(rule.alias == .template(prefix: "uid_", suffix: ""))
        #expect(rule.message == .template(try MessageTemplate("Order {extras.order_id}: {alert}")))
        #expect(rule.receipt == ReceiptPolicy(within: .seconds(600), escalate: [
            .resend, .fallback(.init(kind: .group, id: "10001", robot: "ops_bot")), .webhook(url: "https://ops.example.com/hook"),
        ]))
        #expect(section.rules[1] == BridgeRule(name: "plain", pushAppKey: "chat", robot: "chat_bot"))
        #expect(config.bridge.ruleLocations.map(\.line) == [9, 21])
    }

    @Test(arguments: [
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      alias: uid\n",
         "bots.yaml:11:14: bridge.rules[0].alias: expected equal, table, or a template"),
        ("  rules:\n    - name: r\n      push_appkey: shopp\n      robot: bot1\n",
         "bots.yaml:9:20: bridge.rules[0].push_appkey: unknown appkey 'shopp'; it must be the appkey of one of the apps; did you mean 'shop'?"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n",
         "bots.yaml:8:7: bridge.rules[0].robot: missing required key"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      mesage: text\n",
         "bots.yaml:11:7: bridge.rules[0]: unknown key 'mesage'; did you mean 'message'?"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      message: \"Hi {name}\"\n",
         "bots.yaml:11:16: bridge.rules[0].message: expected text, custom or a template: unknown placeholder '{name}'"),
        ("  rules:\n    - {name: a, push_appkey: shop, robot: bot1}\n    - {name: b, push_appkey: shop, robot: bot1}\n",
         "bots.yaml:9:30: bridge.rules[1].push_appkey: bridge.rules[0] already bridges pushes of 'shop'; one rule per appkey"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      receipt: {within: 5m, escalate: [page]}\n",
         "bots.yaml:11:40: bridge.rules[0].receipt.escalate[0]: expected resend, or a mapping with fallback or webhook"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      receipt: {within: 5m, escalate: [{webhook: {url: ftp://x}}]}\n",
         "bots.yaml:11:56: bridge.rules[0].receipt.escalate[0].webhook.url: expected an http or https URL"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      receipt: {within: 5m, escalate: [{fallback: {type: room, id: x}}]}\n",
         "bots.yaml:11:58: bridge.rules[0].receipt.escalate[0].fallback.type: expected single or group, got 'room'"),
        ("  rules:\n    - name: r\n      push_appkey: shop\n      robot: bot1\n      receipt: {escalate: [resend]}\n",
         "bots.yaml:11:16: bridge.rules[0].receipt.within: missing required key"),
        ("  rate_limit: {requests: 0}\n", "bots.yaml:7:26: bridge.rate_limit.requests: expected 1 to 1000000 requests, got 0"),
    ])
    func mistakesAreLocated(yaml: String, expected: String) {
        do {
            _ = try Self.parse(yaml)
            Issue.record("no error for \(yaml)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }
}

/// Problems only the running hub can see are reported at the rule in `bots.yaml`.
@Suite struct BridgeSetupTests {
    @Test func aRobotNameHeldByAUserStopsTheDaemonWithTheRulesLocation() async throws {
        let dir = try TemporaryDirectory()
        let first = try await Demo.daemon(dir, options: .init(passwordCost: 4))
        try await Demo.register(first, "notify_bot", password: "user-pass")
        let error = await #expect(throws: ConfigurationError.self) {
            _ = try await Demo.daemon(dir, options: .init(passwordCost: 4)) { config in
                config.bridge = BridgeSection(
                    configuration: .init(rules: [BridgeRule(name: "demo", pushAppKey: Demo.appKey, robot: "notify_bot")]),
                    ruleLocations: [.init(file: "bots.yaml", line: 30, column: 7)])
            }
        }
        #expect(error?.description == "bots.yaml:30:7: bridge.rules[0].robot: 'notify_bot' is a user of app \(Demo.appKey), not a robot")
    }
}
