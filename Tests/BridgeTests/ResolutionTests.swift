import Bridge
import Hub
import IMProtocol
import Testing

/// Alias mappings, templates and the resolution of audiences to accounts, across AppKeys.
@Suite struct ResolutionTests {
    static let rule = BridgeRule(name: "orders", pushAppKey: Fixture.shop.appKey, accountsAppKey: Fixture.chat.appKey,
                                 alias: .template(prefix: "uid_", suffix: ""), robot: "order_bot")

    @Test func aliasMappingsParseAndMap() throws {
        #expect(AliasMapping(parsing: "equal") == .equal)
        #expect(AliasMapping(parsing: "table") == .table)
        let template = try #require(AliasMapping(parsing: "uid_{username}@shop"))
        #expect(template == .template(prefix: "uid_", suffix: "@shop"))
        #expect(template.username(forAlias: "uid_alice@shop") == "alice")
        #expect(template.username(forAlias: "uid_@shop") == nil)
        #expect(template.username(forAlias: "alice") == nil)
        #expect(template.alias(forUsername: "bob") == "uid_bob@shop")
        #expect(AliasMapping.equal.username(forAlias: "carol") == "carol")
        #expect(AliasMapping(parsing: "uid_{username}_{username}") == nil)
        #expect(AliasMapping(parsing: "uid_{user}") == nil)
        #expect(AliasMapping(parsing: "plain") == nil)
    }

    @Test func templatesRenderAndRejectUnknownPlaceholders() throws {
        let t = try MessageTemplate("Order {extras.order_id} for {username}: {alert} ({extras.total})")
        let text = t.render(["username": "alice", "alert": "shipped"], extras: ["order_id": "42", "total": 9.5])
        #expect(text == "Order 42 for alice: shipped (9.5)")
        #expect(t.render([:], extras: [:]) == "Order  for :  ()")
        #expect(throws: ProtocolError.self) { try MessageTemplate("Hi {name}") }
        #expect(throws: ProtocolError.self) { try MessageTemplate("Hi {alert") }
        #expect(throws: ProtocolError.self) { try MessageTemplate("Hi alert}") }
    }

    @Test func aliasesResolveToAccountsOfAnotherAppKey() async throws {
        let f = try await Fixture.open(rules: [Self.rule])
        let users = try await f.register("alice", "bob_b")
        // The same username in the pushing app must not be chosen.
        try await f.register("alice", appKey: Fixture.shop.appKey)
        let found = try await f.bridge.resolve(.filter(.init(alias: ["uid_alice", "uid_bob_b", "uid_nobody", "alice"])),
                                               appKey: Fixture.shop.appKey, rule: Self.rule)
        #expect(found.map(\.userID) == users.map(\.id))
        #expect(found.map(\.appKey) == [Fixture.chat.appKey, Fixture.chat.appKey])
        #expect(found.map(\.alias) == ["uid_alice", "uid_bob_b"])
        let none = try await f.bridge.resolve(.filter(.init(alias: ["uid_nobody"])), appKey: Fixture.shop.appKey, rule: Self.rule)
        #expect(none.isEmpty)
    }

    @Test func devicesAndTagsResolveThroughTheirCurrentAlias() async throws {
        let f = try await Fixture.open(rules: [Self.rule])
        let users = try await f.register("alice", "bob_b", "carol")
        let shop = Fixture.shop.appKey
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-1", body: ["alias": "uid_alice", "tags": ["add": ["vip", "beijing"]]])
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-2", body: ["alias": "uid_bob_b", "tags": ["add": ["vip"]]])
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-3", body: ["alias": "uid_carol", "tags": ["add": ["beijing"]]])
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-4", body: ["tags": ["add": ["vip"]]])   // no alias

        func ids(_ filter: Audience.Filter) async throws -> [Int64] {
            try await f.bridge.resolve(.filter(filter), appKey: shop, rule: Self.rule).map(\.userID).sorted()
        }
        #expect(try await ids(.init(registrationID: ["rid-2"])) == [users[1].id])
        #expect(try await ids(.init(tag: ["vip"])) == [users[0].id, users[1].id])
        #expect(try await ids(.init(tag: ["vip", "beijing"])) == users.map(\.id))
        #expect(try await ids(.init(tagAnd: ["vip", "beijing"])) == [users[0].id])
        #expect(try await ids(.init(tag: ["vip"], tagNot: ["beijing"])) == [users[1].id])
        #expect(try await ids(.init(alias: ["uid_alice", "uid_carol"], tag: ["beijing"])) == [users[0].id, users[2].id])
        #expect(try await ids(.init(alias: ["uid_alice"], tag: ["nothing"])) == [])
        let all = try await f.bridge.resolve(.all, appKey: shop, rule: Self.rule)
        #expect(all.map(\.userID).sorted() == users.map(\.id))
        #expect(all.first { $0.userID == users[0].id }?.registrationIDs == ["rid-1"])

        // Rebinding the device moves registration_id pushes to the new alias's account.
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-1", body: ["alias": "uid_carol"])
        #expect(try await ids(.init(registrationID: ["rid-1"])) == [users[2].id])
        try await f.bridge.updateDevice(appKey: shop, registrationID: "rid-1", body: ["alias": ""])
        #expect(try await ids(.init(registrationID: ["rid-1"])) == [])
    }

    @Test func theBindingTableMapsAliasesToUsernames() async throws {
        var rule = Self.rule
        rule.alias = .table
        let f = try await Fixture.open(rules: [rule])
        let users = try await f.register("alice")
        let shop = Fixture.shop.appKey
        #expect(try await f.bridge.resolve(.filter(.init(alias: ["13800000000"])), appKey: shop, rule: rule).isEmpty)
        #expect(try await f.bridge.setBinding(appKey: shop, alias: "13800000000", body: ["username": "alice"]) == "alice")
        let found = try await f.bridge.resolve(.filter(.init(alias: ["13800000000"])), appKey: shop, rule: rule)
        #expect(found.map(\.userID) == [users[0].id])
        #expect(try await f.bridge.resolve(.all, appKey: shop, rule: rule).map(\.userID) == [users[0].id])
        #expect(try await f.bridge.binding(appKey: shop, alias: "13800000000") == "alice")
        try await f.bridge.removeBinding(appKey: shop, alias: "13800000000")
        await #expect(throws: BridgeError.deviceNotFound("alias '13800000000' has no binding")) {
            try await f.bridge.binding(appKey: shop, alias: "13800000000")
        }
        await #expect(throws: BridgeError.self) {
            try await f.bridge.setBinding(appKey: shop, alias: "x1", body: ["username": "a"])
        }
    }

    @Test func aRobotNameHeldByAUserIsRefused() async throws {
        let dir = try TempDir()
        let first = try await Fixture.open(rules: [], dir: dir)
        try await first.register("order_bot")
        let error = await #expect(throws: Bridge.SetupError.self) {
            _ = try await Fixture.open(rules: [Self.rule], dir: dir)
        }
        #expect(error?.field == "robot")
        #expect(error?.message.contains("not a robot") == true)
    }
}
