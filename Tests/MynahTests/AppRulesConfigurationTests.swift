import Foundation
import Hub
import Testing

@testable import Mynah

/// The per-app rules of the hub in `bots.yaml`: `friend_mode`, `cross_app` and `max_group_members`.
@Suite struct AppRulesConfigurationTests {
    static func parse(_ yaml: String) throws(ConfigurationError) -> MynahConfiguration {
        try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: [:])
    }

    static func failure(_ yaml: String) -> ConfigurationError? {
        do {
            let configuration = try parse(yaml)
            Issue.record("expected an error, got \(configuration)")
            return nil
        } catch {
            return error
        }
    }

    @Test func rulesAreReadWithDefaults() throws {
        let configuration = try Self.parse("""
            apps:
              - appkey: shop
                master_secret: s1
                friend_mode: true
                cross_app: [support]
                max_group_members: 2000
              - appkey: support
                master_secret: s2
            """)
        let shop = configuration.apps[0], support = configuration.apps[1]
        #expect(shop.friendMode && shop.crossApp == ["support"] && shop.maxGroupMembers == 2000)
        #expect(!support.friendMode && support.crossApp.isEmpty && support.maxGroupMembers == 500)
    }

    @Test func crossAppMustNameAConfiguredApp() throws {
        let error = try #require(Self.failure("""
            apps:
              - appkey: shop
                master_secret: s1
                cross_app:
                  - suport
              - appkey: support
                master_secret: s2
            """))
        #expect(error.description.hasPrefix("bots.yaml:5:9: apps[0].cross_app[0]: unknown appkey 'suport'"))
        #expect(error.description.contains("did you mean 'support'?"))
    }

    @Test func groupSizeIsBounded() throws {
        let error = try #require(Self.failure("""
            apps:
              - appkey: shop
                master_secret: s1
                max_group_members: 1
            """))
        #expect(error.description == "bots.yaml:4:24: apps[0].max_group_members: expected 2 to 100000, got 1")
        let typed = try #require(Self.failure("""
            apps:
              - appkey: shop
                master_secret: s1
                friend_mode: sometimes
            """))
        #expect(typed.description.hasPrefix("bots.yaml:4:18: apps[0].friend_mode:"))
    }
}
