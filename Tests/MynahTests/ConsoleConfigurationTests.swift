import Foundation
import Hub
import Server
import Testing

@testable import Mynah

/// `console:` of bots.yaml (ConfigurationReader+Console.swift).
@Suite struct ConsoleConfigurationTests {
    static let hash = "$2b$04$NEHiOGtF41/60p0YDgbl1uzyb1xaDywgWh3NTzgg1hBQuRg/qV/kK"

    @Test func absentMeansEnabledWithoutOperators() throws {
        #expect(try parseConfiguration("data_dir: ./data\n").console == ConsoleSection())
    }

    @Test func operatorsAndSettingsAreRead() throws {
        let console = try parseConfiguration("""
            console:
              enabled: false
              session_ttl: 2h
              operators:
                - name: ops
                  password_hash: "\(Self.hash)"
                - name: night.shift@example
                  password_hash: '\(Self.hash)'
            """).console
        #expect(console == ConsoleSection(enabled: false, operators: [
            ConsoleOperator(name: "ops", passwordHash: Self.hash),
            ConsoleOperator(name: "night.shift@example", passwordHash: Self.hash),
        ], sessionTTL: .seconds(7200)))
    }

    @Test func errorsNameTheLineColumnAndPath() {
        #expect(configurationFailure("""
            console:
              operators:
                - name: ops
                  password_hash: plain-text
            """) == "bots.yaml:4:22: console.operators[0].password_hash: expected a bcrypt hash ($2b$10$ followed by 53 characters; docs/console.md shows how to make one)")
        #expect(configurationFailure("""
            console:
              operators:
                - name: ops
                  password_hash: "\(Self.hash)"
                - name: ops
                  password_hash: "\(Self.hash)"
            """) == "bots.yaml:5:13: console.operators[1].name: duplicate operator 'ops'; console.operators[0] already has it")
        #expect(configurationFailure("""
            console:
              operators:
                - name: "has space"
                  password_hash: "\(Self.hash)"
            """)?.hasPrefix("bots.yaml:3:13: console.operators[0].name: expected 1 to 64 of the characters") == true)
        #expect(configurationFailure("console:\n  colour: blue\n")?.hasPrefix("bots.yaml:2:3: console: unknown key 'colour'") == true)
        #expect(configurationFailure("console:\n  session_ttl: 10s\n") == "bots.yaml:2:16: console.session_ttl: expected a duration from 1m to 30d")
        #expect(configurationFailure("console:\n  operators:\n    - name: ops\n")?.contains("password_hash") == true)
    }

    @Test func hashPasswordMakesAHashThatVerifies() async {
        let hash = ConsoleSection.hashPassword("operator-pass", cost: 4)
        #expect(ConsoleOperator.isBcryptHash(hash))
        #expect(await Hub.verifyBcrypt("operator-pass", hash: hash))
        #expect(await !Hub.verifyBcrypt("wrong", hash: hash))
        #expect(await Hub.verifyBcrypt("operator-pass", hash: Self.hash))
    }
}
