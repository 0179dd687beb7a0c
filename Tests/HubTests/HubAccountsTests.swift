import Foundation
import GRDB
import Hub
import IMProtocol
import Testing

@Suite("Hub accounts")
struct HubAccountsTests {
    // MARK: Registration

    @Test("register creates a user, an admin and a robot with their kinds", arguments: FromType.allCases)
    func registerEachKind(kind: FromType) async throws {
        try await withHub { hub, _ in
            let profile = Profile(nickname: "Nick", gender: 2, extras: ["k": .string("v")])
            let user = try await hub.register(appKey: TestApps.a.appKey,
                                              NewUser(username: "acct1", password: "password1", profile: profile),
                                              kind: kind)
            #expect(user.kind == kind)
            #expect(user.username == "acct1")
            #expect(user.appKey == TestApps.a.appKey)
            #expect(user.profile == profile)
            #expect(user.ctime == user.mtime)

            let found = try await hub.user(appKey: TestApps.a.appKey, username: "acct1")
            #expect(found == user)
        }
    }

    @Test("registering a taken username fails with 899001, whatever the kind", arguments: Backend.allCases)
    func duplicateUsername(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let first = try await hub.make("alice")
            for kind in FromType.allCases {
                let error = await #expect(throws: HubError.self) {
                    try await hub.register(appKey: TestApps.a.appKey,
                                           NewUser(username: "alice", password: "other-password"), kind: kind)
                }
                #expect(error?.code == .userExists)
                #expect(error?.message.contains("alice") == true)
            }
            // The first account is untouched: its password still works.
            let again = try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "password1")
            #expect(again.id == first.id)
        }
    }

    @Test("batch register reports each element on its own", arguments: Backend.allCases)
    func batchRegister(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            _ = try await hub.make("taken")
            let results = await hub.register(appKey: TestApps.a.appKey, [
                NewUser(username: "fresh1", password: "password1"),
                NewUser(username: "taken", password: "password1"),
                NewUser(username: "x", password: "password1"),
                NewUser(username: "fresh2", password: "password1"),
            ], kind: .user)
            #expect(results.count == 4)
            #expect((try? results[0].get())?.username == "fresh1")
            #expect(results[1].failureCode == .userExists)
            #expect(results[2].failureCode == .invalidParameter)
            #expect((try? results[3].get())?.username == "fresh2")
        }
    }

    @Test("valid usernames are accepted", arguments: [
        "abcd", "ABCD", "1234", "0_a.b-c@d", "user@example.com", "a___", "9...",
        String(repeating: "a", count: 128),
    ])
    func validUsernames(username: String) async throws {
        try Hub.validate(username: username)
        try await withHub { hub, _ in
            let user = try await hub.make(username)
            #expect(user.username == username)
        }
    }

    @Test("invalid usernames fail with 899003 naming the field", arguments: [
        "", "abc", String(repeating: "a", count: 129),
        "_abc", ".abc", "-abc", "@abc",
        "ab cd", "abc!", "abc/", "abc#", "abc+d", "abcé", "名字名字", "abc\u{0}d",
    ])
    func invalidUsernames(username: String) async throws {
        #expect(throws: HubError.self) { try Hub.validate(username: username) }
        try await withHub { hub, _ in
            let error = await #expect(throws: HubError.self) { try await hub.make(username) }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message.hasPrefix("username") == true)
            let missing = await #expect(throws: HubError.self) {
                try await hub.user(appKey: TestApps.a.appKey, username: username)
            }
            #expect(missing?.code == .userNotFound)
        }
    }

    @Test("usernames are limited in bytes, not characters")
    func usernameLengthInBytes() {
        // 4 characters but 5 bytes would pass a character count; the rule is about bytes (and ASCII).
        #expect(throws: HubError.self) { try Hub.validate(username: "abcé") }
        #expect(throws: Never.self) { try Hub.validate(username: "abcd") }
    }

    @Test("passwords of 4 to 128 bytes are accepted", arguments: [4, 5, 72, 128])
    func validPasswords(length: Int) async throws {
        try await withHub { hub, _ in
            let password = String(repeating: "p", count: length)
            _ = try await hub.make("alice", password: password)
            let user = try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: password)
            #expect(user.username == "alice")
        }
    }

    @Test("passwords out of 4...128 bytes fail with 899003 naming the field", arguments: [
        "", "abc", "é1", String(repeating: "p", count: 129), String(repeating: "é", count: 65),
    ])
    func invalidPasswords(password: String) async throws {
        try await withHub { hub, _ in
            let error = await #expect(throws: HubError.self) { try await hub.make("alice", password: password) }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message.hasPrefix("password") == true)
            let missing = await #expect(throws: HubError.self) {
                try await hub.user(appKey: TestApps.a.appKey, username: "alice")
            }
            #expect(missing?.code == .userNotFound)
        }
    }

    @Test("the same username can be registered in two apps, as two accounts", arguments: Backend.allCases)
    func sameUsernameInTwoApps(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let inA = try await hub.make("alice", appKey: TestApps.a.appKey, password: "password-a")
            let inB = try await hub.make("alice", appKey: TestApps.b.appKey, password: "password-b")
            #expect(inA.id != inB.id)
            #expect(inA.appKey == TestApps.a.appKey)
            #expect(inB.appKey == TestApps.b.appKey)

            #expect(try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "password-a").id == inA.id)
            #expect(try await hub.login(appKey: TestApps.b.appKey, username: "alice", password: "password-b").id == inB.id)
            // Each app's password works only in its app.
            let crossed = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "password-b")
            }
            #expect(crossed?.code == .authenticationFailed)
        }
    }

    @Test("registering in an unknown app fails with 899009", arguments: Backend.allCases)
    func registerUnknownApp(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let error = await #expect(throws: HubError.self) { try await hub.make("alice", appKey: "no-such-app") }
            #expect(error?.code == .appKeyNotFound)
            let batch = await hub.register(appKey: "no-such-app", [NewUser(username: "alice", password: "password1")],
                                           kind: .user)
            #expect(batch.first?.failureCode == .appKeyNotFound)
        }
    }

    // MARK: Login

    @Test("login with the right password returns the account", arguments: Backend.allCases)
    func loginWorks(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let alice = try await hub.make("alice", password: "correct horse")
            let logged = try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "correct horse")
            #expect(logged == alice)
        }
    }

    @Test("a wrong password and an unknown user give the same 899008", arguments: Backend.allCases)
    func loginFailuresLookAlike(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            _ = try await hub.make("alice", password: "correct horse")
            let wrongPassword = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: "Correct horse")
            }
            let unknownUser = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "mallory", password: "correct horse")
            }
            let otherApp = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.b.appKey, username: "alice", password: "correct horse")
            }
            #expect(wrongPassword?.code == .authenticationFailed)
            #expect(wrongPassword == unknownUser)
            #expect(wrongPassword == otherApp)
            #expect(wrongPassword?.message.contains("alice") == false)
        }
    }

    @Test("login to an unknown app fails with 899009", arguments: Backend.allCases)
    func loginUnknownApp(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            _ = try await hub.make("alice")
            let error = await #expect(throws: HubError.self) {
                try await hub.login(appKey: "no-such-app", username: "alice", password: "password1")
            }
            #expect(error?.code == .appKeyNotFound)
        }
    }

    @Test("the password is stored as a bcrypt hash, never in clear")
    func passwordIsHashed() async throws {
        try await withHub { hub, sandbox in
            _ = try await hub.make("alice", password: "correct horse")
            _ = try await hub.make("bobby", password: "correct horse")
            let hashes = try sandbox.readDatabase { db in
                try [String: String](uniqueKeysWithValues: Row.fetchAll(
                    db, sql: "SELECT username, password_hash FROM user").map { ($0["username"], $0["password_hash"]) })
            }
            #expect(hashes.count == 2)
            for (_, hash) in hashes {
                #expect(hash.hasPrefix("$2"))
                #expect(hash != "correct horse")
                #expect(!hash.contains("correct horse"))
            }
            // Salted: the same password hashes differently for two accounts.
            #expect(hashes["alice"] != hashes["bobby"])
        }
    }

    @Test("a password differing only after byte 72 is rejected", arguments: Backend.allCases)
    func passwordBeyondBcryptLimit(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let prefix = String(repeating: "p", count: 72)
            _ = try await hub.make("alice", password: prefix + "-the-real-secret")
            let error = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "alice", password: prefix + "-a-wrong-guess")
            }
            #expect(error?.code == .authenticationFailed)
        }
    }

    // MARK: Robots

    @Test("ensureRobot registers a missing robot", arguments: Backend.allCases)
    func ensureRobotRegisters(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let robot = try await hub.ensureRobot(appKey: TestApps.a.appKey,
                                                  NewUser(username: "echo-bot", password: "robot-pass"))
            #expect(robot.kind == .robot)
            #expect(robot.username == "echo-bot")
            let logged = try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "robot-pass")
            #expect(logged.id == robot.id)
            #expect(logged.kind == .robot)
        }
    }

    @Test("ensureRobot keeps an existing robot and its hash when the password is unchanged", arguments: Backend.allCases)
    func ensureRobotKeeps(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let first = try await hub.ensureRobot(appKey: TestApps.a.appKey,
                                                  NewUser(username: "echo-bot", password: "robot-pass"))
            let hashBefore = try await hub.store.passwordHash(userID: first.id)
            let second = try await hub.ensureRobot(appKey: TestApps.a.appKey,
                                                   NewUser(username: "echo-bot", password: "robot-pass"))
            let hashAfter = try await hub.store.passwordHash(userID: first.id)
            #expect(second == first)
            #expect(hashBefore != nil)
            #expect(hashAfter == hashBefore)
            _ = try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "robot-pass")
        }
    }

    @Test("ensureRobot resets a robot's password when the configuration changed it", arguments: Backend.allCases)
    func ensureRobotResetsPassword(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let first = try await hub.ensureRobot(appKey: TestApps.a.appKey,
                                                  NewUser(username: "echo-bot", password: "old-password"))
            let second = try await hub.ensureRobot(appKey: TestApps.a.appKey,
                                                   NewUser(username: "echo-bot", password: "new-password"))
            #expect(second.id == first.id)
            #expect(second.kind == .robot)

            let logged = try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "new-password")
            #expect(logged.id == first.id)
            let old = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "old-password")
            }
            #expect(old?.code == .authenticationFailed)
        }
    }

    @Test("ensureRobot refuses a name that belongs to a user or an admin (899001)", arguments: [FromType.user, .admin])
    func ensureRobotRefusesOtherKinds(kind: FromType) async throws {
        try await withHub { hub, _ in
            let human = try await hub.make("echo-bot", kind: kind, password: "human-pass")
            let error = await #expect(throws: HubError.self) {
                try await hub.ensureRobot(appKey: TestApps.a.appKey, NewUser(username: "echo-bot", password: "robot-pass"))
            }
            #expect(error?.code == .userExists)
            // The account is neither converted nor given the robot's password.
            let logged = try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "human-pass")
            #expect(logged == human)
            let robotLogin = await #expect(throws: HubError.self) {
                try await hub.login(appKey: TestApps.a.appKey, username: "echo-bot", password: "robot-pass")
            }
            #expect(robotLogin?.code == .authenticationFailed)
        }
    }

    @Test("ensureRobot validates like register", arguments: Backend.allCases)
    func ensureRobotValidates(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let badName = await #expect(throws: HubError.self) {
                try await hub.ensureRobot(appKey: TestApps.a.appKey, NewUser(username: "_bot", password: "robot-pass"))
            }
            #expect(badName?.code == .invalidParameter)
            let badApp = await #expect(throws: HubError.self) {
                try await hub.ensureRobot(appKey: "no-such-app", NewUser(username: "echo-bot", password: "robot-pass"))
            }
            #expect(badApp?.code == .appKeyNotFound)
        }
    }

    // MARK: Apps

    @Test("authenticateApp accepts the right master secret", arguments: Backend.allCases)
    func authenticateAppWorks(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let a = try hub.authenticateApp(appKey: TestApps.a.appKey, secret: TestApps.a.masterSecret)
            let b = try hub.authenticateApp(appKey: TestApps.b.appKey, secret: TestApps.b.masterSecret)
            #expect(a == TestApps.a)
            #expect(b == TestApps.b)
            #expect(hub.app(TestApps.a.appKey) == TestApps.a)
            #expect(hub.app("no-such-app") == nil)
        }
    }

    @Test("authenticateApp rejects a wrong secret with 899008", arguments: [
        "", "secret-of-app-", "secret-of-app-a!", "Secret-of-app-a", "secret-of-app-b",
    ])
    func authenticateAppWrongSecret(secret: String) async throws {
        try await withHub { hub, _ in
            let error = #expect(throws: HubError.self) {
                try hub.authenticateApp(appKey: TestApps.a.appKey, secret: secret)
            }
            #expect(error?.code == .authenticationFailed)
        }
    }

    @Test("authenticateApp rejects an unknown appkey with 899009", arguments: Backend.allCases)
    func authenticateAppUnknown(_ backend: Backend) async throws {
        try await withHub(backend) { hub, _ in
            let error = #expect(throws: HubError.self) {
                try hub.authenticateApp(appKey: "no-such-app", secret: TestApps.a.masterSecret)
            }
            #expect(error?.code == .appKeyNotFound)
        }
    }
}

extension Result where Failure == HubError {
    /// The error code of a failure, `nil` for a success.
    var failureCode: ErrorCode? {
        if case .failure(let e) = self { return e.code }
        return nil
    }
}
