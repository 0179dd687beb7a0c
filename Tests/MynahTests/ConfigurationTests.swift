import Foundation
import Hub
import IMProtocol
import Testing
import MynahTesting

@testable import Mynah

/// The example from the documentation of `bots.yaml`, comments included.
private let exampleYAML = """
    # Mynah configuration
    listen:
      host: 127.0.0.1        # default 127.0.0.1
      port: 8080             # default 8080; 0 = OS chooses
    data_dir: ./data         # default ./data
    log_level: info          # trace|debug|info|notice|warning|error|critical, default info
    apps:
      - appkey: 4f7aef34fb361292c566a1cd      # required; 1-64 chars of [A-Za-z0-9_-]
        master_secret: ${MYNAH_DEMO_SECRET:-054d6103823a726fc12d0466}   # required, non-empty
        name: Demo                             # optional
        offline_messages: true                 # optional bool, default true
    bots:
      - name: echo                             # required, unique among bots, [A-Za-z0-9_-]+
        appkey: 4f7aef34fb361292c566a1cd       # required; must be the appkey of an entry in apps
        username: echo_bot                     # required; 4-128 chars
        password: ${ECHO_BOT_PASSWORD:-echo-bot-secret}  # required, 4-128 chars
        nickname: Echo                         # optional
        plugins:                               # required, at least one
          - swift: echo                        # name of a built-in plugin
            config:                            # optional mapping, free-form
              prefix: "echo: "

    """

/// One app with appkey `k1` and secret `s1`, followed by `rest` (typically a `bots:` section).
private func withApp(_ rest: String) -> String {
    """
    apps:
      - appkey: k1
        master_secret: s1

    """ + rest
}

/// A `bots:` section with one valid bot whose lines can be replaced or extended.
private func oneBot(
    name: String = "b1",
    appKey: String = "k1",
    username: String = "user1",
    password: String = "pass1",
    extra: String = "",
    plugins: String = "\n      - swift: echo"
) -> String {
    """
    bots:
      - name: \(name)
        appkey: \(appKey)
        username: \(username)
        password: \(password)
    \(extra)    plugins:\(plugins)

    """
}

private func parse(_ yaml: String, environment: [String: String] = [:]) throws -> MynahConfiguration {
    try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: environment)
}

/// The error parsing `yaml` gives, or `nil` (recorded as an issue) when it parses.
private func failure(_ yaml: String, environment: [String: String] = [:]) -> ConfigurationError? {
    do {
        let configuration = try ConfigurationLoader.parse(yaml: yaml, fileName: "bots.yaml", environment: environment)
        Issue.record("expected an error, got \(configuration)")
        return nil
    } catch {
        return error
    }
}

/// A fresh directory for one test, removed afterwards.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("mynah-config-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

@Suite struct ConfigurationParsingTests {
    @Test func fullExampleParses() throws {
        let configuration = try parse(exampleYAML)
        let expected = MynahConfiguration(
            listen: .init(host: "127.0.0.1", port: 8080),
            dataDirectory: "./data",
            logLevel: "info",
            apps: [
                .init(
                    appKey: "4f7aef34fb361292c566a1cd",
                    masterSecret: "054d6103823a726fc12d0466",
                    name: "Demo",
                    offlineMessages: true
                )
            ],
            bots: [
                .init(
                    name: "echo",
                    appKey: "4f7aef34fb361292c566a1cd",
                    username: "echo_bot",
                    password: "echo-bot-secret",
                    nickname: "Echo",
                    plugins: [
                        .init(
                            swift: "echo",
                            config: ["prefix": "echo: "],
                            location: .init(file: "bots.yaml", line: 19, column: 9)
                        )
                    ],
                    location: .init(file: "bots.yaml", line: 13, column: 5)
                )
            ]
        )
        #expect(configuration == expected)
    }

    @Test func fullExampleTakesSecretsFromTheEnvironment() throws {
        let configuration = try parse(
            exampleYAML,
            environment: ["MYNAH_DEMO_SECRET": "from-env", "ECHO_BOT_PASSWORD": "hunter22"]
        )
        #expect(configuration.apps.first?.masterSecret == "from-env")
        #expect(configuration.bots.first?.password == "hunter22")
    }

    @Test func defaultsApplyWhenOptionalKeysAreAbsent() throws {
        let configuration = try parse(withApp(oneBot()))
        #expect(configuration.listen == .init(host: "127.0.0.1", port: 8080))
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.logLevel == "info")
        let app = try #require(configuration.apps.first)
        #expect(app.name == nil)
        #expect(app.offlineMessages == true)
        let bot = try #require(configuration.bots.first)
        #expect(bot.nickname == nil)
        #expect(bot.plugins.map(\.swift) == ["echo"])
        #expect(bot.plugins.first?.config == .object([:]))
    }

    @Test(arguments: ["{}\n", "apps: []\nbots: []\n", "apps:\nbots:\nlisten:\n"])
    func emptySectionsMeanDefaults(yaml: String) throws {
        #expect(try parse(yaml) == MynahConfiguration())
    }

    @Test func explicitValuesOverrideDefaults() throws {
        let yaml = """
            listen: {host: 0.0.0.0, port: 0}
            data_dir: /var/lib/mynah
            log_level: DEBUG
            apps:
              - {appkey: k1, master_secret: s1-at-least-16-chars, offline_messages: false}
            """
        let configuration = try parse(yaml)
        #expect(configuration.listen == .init(host: "0.0.0.0", port: 0))
        #expect(configuration.dataDirectory == "/var/lib/mynah")
        #expect(configuration.logLevel == "debug")
        #expect(configuration.apps.first?.offlineMessages == false)
    }

    @Test func pluginConfigKeepsYAMLTypes() throws {
        let plugins = """

                  - swift: echo
                    config:
                      count: 3
                      ratio: 0.5
                      enabled: true
                      nothing: ~
                      quoted: "123"
                      tagged: !!str 42
                      list: [a, 1, {b: false}]
                      nested:
                        key: value
                  - swift: other
            """
        let configuration = try parse(withApp(oneBot(plugins: plugins)))
        let first = try #require(configuration.bots.first?.plugins.first)
        let expected: JSONValue = [
            "count": 3, "ratio": 0.5, "enabled": true, "nothing": nil, "quoted": "123", "tagged": "42",
            "list": ["a", 1, ["b": false]], "nested": ["key": "value"],
        ]
        #expect(first.config == expected)
        #expect(configuration.bots.first?.plugins.last?.config == .object([:]))
    }

    @Test func documentThatIsNotAMappingIsRejected() throws {
        let error = try #require(failure("- listen\n- apps\n"))
        #expect(error.description == "bots.yaml:1:1: expected a mapping at the top level, got a list")
    }

    @Test(arguments: ["", "\n\n", "# nothing but a comment\n", "~\n"])
    func emptyFileIsAnError(yaml: String) throws {
        let error = try #require(failure(yaml))
        #expect(error.message == "empty configuration")
        #expect(error.path == "")
        #expect(error.description == "bots.yaml:1:1: empty configuration")
    }
}

@Suite struct ConfigurationInterpolationTests {
    @Test func setVariableIsUsed() throws {
        let configuration = try parse("data_dir: ${DIR}/mynah\n", environment: ["DIR": "/srv"])
        #expect(configuration.dataDirectory == "/srv/mynah")
    }

    @Test func defaultIsUsedWhenUnsetOrEmpty() throws {
        #expect(try parse("data_dir: ${DIR:-/tmp/x}\n").dataDirectory == "/tmp/x")
        #expect(try parse("data_dir: ${DIR:-/tmp/x}\n", environment: ["DIR": ""]).dataDirectory == "/tmp/x")
        #expect(try parse("data_dir: ${DIR:-/tmp/x}\n", environment: ["DIR": "/y"]).dataDirectory == "/y")
    }

    @Test func unsetVariableWithoutDefaultIsAnErrorAtTheScalar() throws {
        let yaml = withApp(oneBot(password: "${BOT_PASSWORD}"))
        let error = try #require(failure(yaml))
        #expect(error.location?.line == 8)
        #expect(error.location?.column == 15)
        #expect(error.path == "bots[0].password")
        #expect(error.message == "environment variable 'BOT_PASSWORD' is not set")
        #expect(error.description == "bots.yaml:8:15: bots[0].password: environment variable 'BOT_PASSWORD' is not set")
    }

    @Test func doubleDollarIsALiteralDollar() throws {
        let configuration = try parse(withApp(oneBot(password: "'pa$$word$'")))
        #expect(configuration.bots.first?.password == "pa$word$")
    }

    @Test func plainScalarsAreTypedAfterInterpolation() throws {
        #expect(try parse("listen:\n  port: ${PORT:-9090}\n").listen.port == 9090)
        #expect(try parse("listen:\n  port: ${PORT}\n", environment: ["PORT": "0"]).listen.port == 0)
        let plugins = """

                  - swift: echo
                    config:
                      plain: ${N:-5}
                      quoted: "${N:-5}"
            """
        let configuration = try parse(withApp(oneBot(plugins: plugins)))
        #expect(configuration.bots.first?.plugins.first?.config == ["plain": 5, "quoted": "5"])
    }

    @Test func keysAreNotInterpolated() throws {
        let error = try #require(failure("${KEY}: 1\n", environment: ["KEY": "data_dir"]))
        #expect(error.description == "bots.yaml:1:1: unknown key '${KEY}'")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("$$", "$"),
        ("a$b", "a$b"),
        ("cost: 5$", "cost: 5$"),
        ("${A}", "alpha"),
        ("<${A}|${B}>", "<alpha|>"),
        ("${UNSET:-x:-y}", "x:-y"),
        ("${B:-fallback}", "fallback"),
        ("${UNSET:-}", ""),
        ("$${A}", "${A}"),
        ("€${A}€", "€alpha€"),
    ])
    func expansion(input: String, expected: String) throws {
        let environment = ["A": "alpha", "B": ""]
        #expect(try EnvironmentInterpolation.expand(input, environment: environment) == expected)
    }

    @Test(arguments: [
        ("${MISSING}", "environment variable 'MISSING' is not set"),
        ("${OPEN", "unterminated '${' (expected ${NAME} or ${NAME:-default})"),
        ("${}", "invalid environment reference '${}' (expected ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_')"),
        ("${1X}", "invalid environment reference '${1X}' (expected ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_')"),
    ])
    func expansionFailures(input: String, message: String) {
        #expect(throws: EnvironmentInterpolation.Failure(message: message)) {
            try EnvironmentInterpolation.expand(input, environment: [:])
        }
    }
}

@Suite struct ConfigurationErrorTests {
    @Test func syntaxErrorsCarryTheParsersPosition() throws {
        let colon = try #require(failure("listen:\n  port: 8080\ndata_dir: a: b\n"))
        #expect(colon.description == "bots.yaml:3:12: mapping values are not allowed in this context")

        let tab = try #require(failure("listen:\n\tport: 1\n"))
        #expect(tab.location == .init(file: "bots.yaml", line: 2, column: 1))
        #expect(tab.message.hasPrefix("found character that cannot start any token"))

        let quote = try #require(failure("data_dir: \"unterminated\n"))
        #expect(quote.location?.line == 2)
        #expect(quote.message.contains("while scanning a quoted scalar at line 1, column 11"))
    }

    @Test func duplicateYAMLKeysAreReported() throws {
        let error = try #require(failure("listen:\n  port: 1\n  port: 2\n"))
        #expect(error.description == "bots.yaml:2:3: key 'port' appears more than once in this mapping")
    }

    @Test func unknownTopLevelKey() throws {
        let error = try #require(failure("listen:\n  port: 1\nfoo: bar\n"))
        #expect(error.location == .init(file: "bots.yaml", line: 3, column: 1))
        #expect(error.path == "")
        #expect(error.message == "unknown key 'foo'")
        #expect(error.description == "bots.yaml:3:1: unknown key 'foo'")
    }

    @Test func unknownKeysSuggestTheClosestKnownKey() throws {
        let listen = try #require(failure("listen:\n  host: ::1\n  prot: 80\n"))
        #expect(listen.description == "bots.yaml:3:3: listen: unknown key 'prot'; did you mean 'port'?")

        let top = try #require(failure("data-dir: /x\n"))
        #expect(top.description == "bots.yaml:1:1: unknown key 'data-dir'; did you mean 'data_dir'?")

        let bot = try #require(failure(withApp(oneBot(extra: "    nickame: N\n"))))
        #expect(bot.description == "bots.yaml:9:5: bots[0]: unknown key 'nickame'; did you mean 'nickname'?")

        let plugin = try #require(failure(withApp(oneBot(plugins: "\n      - swfit: echo"))))
        #expect(plugin.description == "bots.yaml:10:9: bots[0].plugins[0]: unknown key 'swfit'; did you mean 'swift'?")

        let far = try #require(failure(withApp(oneBot(plugins: "\n      - swift: echo\n        options: {}"))))
        #expect(far.description == "bots.yaml:11:9: bots[0].plugins[0]: unknown key 'options'")
    }

    @Test func missingRequiredKeyPointsAtTheMapping() throws {
        let yaml = withApp(
            """
            bots:
              - name: b1
                appkey: k1
                password: pass1
                plugins:
                  - swift: echo
            """
        )
        let error = try #require(failure(yaml))
        #expect(error.location == .init(file: "bots.yaml", line: 5, column: 5))
        #expect(error.path == "bots[0].username")
        #expect(error.message == "missing required key")
        #expect(error.description == "bots.yaml:5:5: bots[0].username: missing required key")

        let plugin = try #require(failure(withApp(oneBot(plugins: "\n      - config: {a: 1}"))))
        #expect(plugin.description == "bots.yaml:10:9: bots[0].plugins[0].swift: missing required key")

        let plugins = try #require(failure(withApp(oneBot(plugins: "").replacingOccurrences(of: "    plugins:\n", with: ""))))
        #expect(plugins.description == "bots.yaml:5:5: bots[0].plugins: missing required key")

        let secret = try #require(failure("apps:\n  - appkey: k1\n"))
        #expect(secret.description == "bots.yaml:2:5: apps[0].master_secret: missing required key")
    }

    @Test func wrongTypesPointAtTheValue() throws {
        let port = try #require(failure("listen:\n  port: abc\n"))
        #expect(port.description == "bots.yaml:2:9: listen.port: expected an integer, got 'abc'")

        let quotedPort = try #require(failure("listen:\n  port: \"8080\"\n"))
        #expect(quotedPort.message == "expected an integer, got '8080' (a quoted string)")

        let offline = try #require(
            failure("apps:\n  - appkey: k1\n    master_secret: s1\n    offline_messages: maybe\n")
        )
        #expect(
            offline.description
                == "bots.yaml:4:23: apps[0].offline_messages: expected a boolean (true or false), got 'maybe'"
        )

        let plugins = try #require(failure(withApp(oneBot(plugins: " 3"))))
        #expect(plugins.description == "bots.yaml:9:14: bots[0].plugins: expected a list, got '3'")

        let listen = try #require(failure("listen: [1, 2]\n"))
        #expect(listen.description == "bots.yaml:1:9: listen: expected a mapping, got a list")

        let config = try #require(failure(withApp(oneBot(plugins: "\n      - swift: echo\n        config: [1]"))))
        #expect(config.description == "bots.yaml:11:17: bots[0].plugins[0].config: expected a mapping, got a list")

        let scalarPlugin = try #require(failure(withApp(oneBot(plugins: "\n      - echo"))))
        #expect(
            scalarPlugin.description
                == "bots.yaml:10:9: bots[0].plugins[0]: expected a mapping such as 'swift: echo', got 'echo'"
        )

        let emptySecret = try #require(failure("apps:\n  - appkey: k1\n    master_secret:\n"))
        #expect(emptySecret.description == "bots.yaml:3:5: apps[0].master_secret: expected a string, got an empty value")
    }

    @Test(arguments: [65536, 70000, -1])
    func portOutOfRange(port: Int) throws {
        let error = try #require(failure("listen:\n  port: \(port)\n"))
        #expect(error.location == .init(file: "bots.yaml", line: 2, column: 9))
        #expect(error.path == "listen.port")
        #expect(error.message == "expected a port number from 0 to 65535, got \(port)")
    }

    @Test func portBoundsAreAccepted() throws {
        #expect(try parse("listen:\n  port: 0\n").listen.port == 0)
        #expect(try parse("listen:\n  port: 65535\n").listen.port == 65535)
    }

    @Test func botWithUnknownAppKey() throws {
        let error = try #require(failure(withApp(oneBot(appKey: "k2"))))
        #expect(
            error.description
                == "bots.yaml:6:13: bots[0].appkey: unknown appkey 'k2'; it must be the appkey of one of the apps;"
                + " did you mean 'k1'?"
        )

        let noApps = try #require(failure(oneBot(appKey: "k1")))
        #expect(noApps.description == "bots.yaml:3:13: bots[0].appkey: unknown appkey 'k1'; no apps are configured")
    }

    @Test func duplicateBotName() throws {
        let yaml = withApp(oneBot(name: "echo") + oneBot(name: "echo", username: "user2").replacingOccurrences(of: "bots:\n", with: ""))
        let error = try #require(failure(yaml))
        #expect(error.description == "bots.yaml:11:11: bots[1].name: duplicate bot name 'echo'; bots[0] already has it")
    }

    @Test func duplicateAppKey() throws {
        let yaml = "apps:\n  - appkey: k1\n    master_secret: a\n  - appkey: k1\n    master_secret: b\n"
        let error = try #require(failure(yaml))
        #expect(error.description == "bots.yaml:4:13: apps[1].appkey: duplicate appkey 'k1'; apps[0] already has it")
    }

    @Test func sameUsernameTwiceInOneApp() throws {
        let second = oneBot(name: "b2", username: "user1").replacingOccurrences(of: "bots:\n", with: "")
        let error = try #require(failure(withApp(oneBot() + second)))
        #expect(
            error.description == "bots.yaml:13:15: bots[1].username: username 'user1' is already used by bots[0] in the same app"
        )
    }

    @Test func sameUsernameInTwoAppsIsFine() throws {
        let yaml = """
            apps:
              - {appkey: k1, master_secret: s1}
              - {appkey: k2, master_secret: s2}

            """ + oneBot() + oneBot(name: "b2", appKey: "k2").replacingOccurrences(of: "bots:\n", with: "")
        let configuration = try parse(yaml)
        #expect(configuration.bots.map(\.appKey) == ["k1", "k2"])
        #expect(configuration.bots.map(\.username) == ["user1", "user1"])
    }

    @Test(arguments: [
        ("usr", "expected 4 to 128 characters, got 3 in 'usr'"),
        ("_user", "must start with a letter or a digit, got '_user'"),
        ("us er", "expected only the characters A-Z a-z 0-9 _ . @ -, got 'us er'"),
        ("üser", "must start with a letter or a digit, got 'üser'"),
    ])
    func invalidUsername(username: String, message: String) throws {
        let error = try #require(failure(withApp(oneBot(username: "'\(username)'"))))
        #expect(error.path == "bots[0].username")
        #expect(error.message == message)
    }

    @Test func validUsernameCharacters() throws {
        #expect(try parse(withApp(oneBot(username: "a.b-c_d@e1"))).bots.first?.username == "a.b-c_d@e1")
    }

    @Test func passwordLengthIsCheckedWithoutEchoingThePassword() throws {
        let error = try #require(failure(withApp(oneBot(password: "abc"))))
        #expect(error.description == "bots.yaml:8:15: bots[0].password: expected 4 to 128 bytes (UTF-8), got 3")
    }

    @Test func otherValidations() throws {
        let appKey = try #require(failure("apps:\n  - appkey: 'a b'\n    master_secret: s\n"))
        #expect(appKey.message == "expected 1 to 64 of the characters A-Z a-z 0-9 _ -, got 'a b'")

        let longAppKey = String(repeating: "a", count: 65)
        #expect(failure("apps:\n  - appkey: \(longAppKey)\n    master_secret: s\n")?.path == "apps[0].appkey")

        let secret = try #require(failure("apps:\n  - appkey: k\n    master_secret: ''\n"))
        #expect(secret.description == "bots.yaml:3:20: apps[0].master_secret: must not be empty")

        let botName = try #require(failure(withApp(oneBot(name: "'my bot'"))))
        #expect(botName.message == "expected one or more of the characters A-Z a-z 0-9 _ -, got 'my bot'")

        let noPlugins = try #require(failure(withApp(oneBot(plugins: " []"))))
        #expect(noPlugins.description == "bots.yaml:9:14: bots[0].plugins: expected at least one plugin")

        let emptyPlugin = try #require(failure(withApp(oneBot(plugins: "\n      - swift: ''"))))
        #expect(emptyPlugin.description == "bots.yaml:10:16: bots[0].plugins[0].swift: must not be empty")

        let level = try #require(failure("log_level: verbose\n"))
        #expect(
            level.description
                == "bots.yaml:1:12: log_level: expected one of trace, debug, info, notice, warning, error, critical,"
                + " got 'verbose'"
        )
    }

    @Test func descriptionFormat() {
        // `SourceLocation` is also a Swift Testing type, so let inference name it.
        let located = ConfigurationError(location: .init(file: "bots.yaml", line: 12, column: 5), path: "", message: "")
        guard let location = located.location else { return }
        #expect(
            ConfigurationError(location: location, path: "bots[0].username", message: "missing required key").description
                == "bots.yaml:12:5: bots[0].username: missing required key"
        )
        #expect(
            ConfigurationError(location: location, path: "", message: "empty configuration").description
                == "bots.yaml:12:5: empty configuration"
        )
        #expect(
            ConfigurationError(location: nil, path: "", message: "cannot read").description == "cannot read"
        )
        #expect(location.description == "bots.yaml:12:5")
        #expect(ConfigurationError(location: location, path: "p", message: "m").localizedDescription == "bots.yaml:12:5: p: m")
    }
}

@Suite struct ConfigurationFileTests {
    @Test func loadsAFileAndNamesItInErrors() throws {
        try withTemporaryDirectory { directory in
            let good = directory.appendingPathComponent("bots.yaml")
            try exampleYAML.write(to: good, atomically: true, encoding: .utf8)
            let configuration = try ConfigurationLoader.load(path: good.path, environment: [:])
            #expect(configuration.bots.first?.location == .init(file: good.path, line: 13, column: 5))

            let bad = directory.appendingPathComponent("bad.yaml")
            try "listen:\n  port: abc\n".write(to: bad, atomically: true, encoding: .utf8)
            #expect(
                throws: ConfigurationError(
                    location: .init(file: bad.path, line: 2, column: 9),
                    path: "listen.port",
                    message: "expected an integer, got 'abc'"
                )
            ) {
                try ConfigurationLoader.load(path: bad.path, environment: [:])
            }
        }
    }

    @Test func missingFileIsAClearError() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nope.yaml").path
            let error = try #require(throws: ConfigurationError.self) {
                try ConfigurationLoader.load(path: path, environment: [:])
            }
            #expect(error.location == nil)
            #expect(error.path == "")
            #expect(error.description == "cannot read configuration file '\(path)': no such file")
        }
    }

    @Test func directoryIsAClearError() throws {
        try withTemporaryDirectory { directory in
            let error = try #require(throws: ConfigurationError.self) {
                try ConfigurationLoader.load(path: directory.path, environment: [:])
            }
            #expect(error.description == "cannot read configuration file '\(directory.path)': it is a directory")
        }
    }

    @Test func invalidUTF8IsLocated() throws {
        try withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("latin1.yaml")
            var bytes = Array("listen:\n  host: caf".utf8)
            bytes.append(0xE9)
            bytes.append(contentsOf: Array("\n".utf8))
            try Data(bytes).write(to: file)
            let error = try #require(throws: ConfigurationError.self) {
                try ConfigurationLoader.load(path: file.path, environment: [:])
            }
            #expect(error.description == "\(file.path):2:12: the file is not valid UTF-8")
        }
    }
}
