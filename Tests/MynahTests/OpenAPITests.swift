import Foundation
import Hub
import Hummingbird
import IMProtocol
import Testing
import Yams
@testable import Mynah
@testable import Server

/// docs/openapi.yaml against the code: every documented operation is served by a real daemon, and every route the
/// code registers is documented.
@Suite("docs/openapi.yaml matches the routes of the code")
struct OpenAPITests {
    /// Every route the code registers, as `METHOD /path` with `{param}` for path parameters: the `register(on:)`
    /// functions of Sources/Server/REST/*.swift, `/health` of Sources/Server/HTTPServer.swift and `/metrics` of
    /// Sources/Server/MetricsEndpoint.swift (the WebSocket
    /// gateway, `/gateway`, is documented in docs/gateway.md, not in the OpenAPI document).
    static let registered: Set<String> = [
        // HTTPServer
        "GET /health", "GET /metrics",
        // UsersAPI
        "POST /v1/users", "POST /v1/admins", "GET /v1/users/{username}", "GET /v1/users/{username}/userstat",
        "POST /v1/users/userstat",
        // AccountsAPI
        "PUT /v1/users/{username}", "DELETE /v1/users/{username}", "DELETE /v1/users", "GET /v1/users",
        "GET /v1/admins", "PUT /v1/users/{username}/password", "PUT /v1/users/{username}/forbidden",
        "GET /v1/users/{username}/groups", "GET /v1/cross/users/{username}/groups",
        // RelationsAPI
        "PUT /v1/users/{username}/blacklist", "DELETE /v1/users/{username}/blacklist", "GET /v1/users/{username}/blacklist",
        "POST /v1/users/{username}/nodisturb", "POST /v1/users/{username}/groupsShield",
        "POST /v1/users/{username}/friends", "DELETE /v1/users/{username}/friends", "PUT /v1/users/{username}/friends",
        "GET /v1/users/{username}/friends",
        "PUT /v1/cross/users/{username}/blacklist", "DELETE /v1/cross/users/{username}/blacklist",
        "GET /v1/cross/users/{username}/blacklist", "POST /v1/cross/users/{username}/nodisturb",
        "POST /v1/cross/users/{username}/friends", "DELETE /v1/cross/users/{username}/friends",
        // GroupsAPI
        "POST /v1/groups", "GET /v1/groups", "GET /v1/groups/{gid}", "PUT /v1/groups/{gid}", "DELETE /v1/groups/{gid}",
        "POST /v1/groups/{gid}/members", "GET /v1/groups/{gid}/members", "POST /v2/groups/{gid}/addMembers",
        "POST /v2/groups/{gid}/delMembers", "PUT /v1/groups/messages/{gid}/silence", "PUT /v1/groups/owner/{gid}",
        "POST /v1/cross/groups/{gid}/members", "GET /v1/cross/groups/{gid}/members",
        // ChatroomsAPI
        "POST /v1/chatroom", "POST /v1/chatroom/batch", "GET /v1/chatroom", "PUT /v1/chatroom/{id}",
        "DELETE /v1/chatroom/{id}", "PUT /v1/chatroom/{id}/forbidden/{username}", "GET /v1/chatroom/{id}/members",
        "PUT /v1/chatroom/{id}/members", "DELETE /v1/chatroom/{id}/members",
        // SensitiveWordsAPI
        "POST /v1/sensitiveword", "PUT /v1/sensitiveword", "DELETE /v1/sensitiveword", "GET /v1/sensitiveword",
        "PUT /v1/sensitiveword/status", "GET /v1/sensitiveword/status",
        // MessagesAPI
        "POST /v1/messages", "GET /v2/messages", "GET /v2/users/{username}/messages", "GET /v2/groups/{gid}/messages",
        "GET /v2/chatrooms/{id}/messages", "POST /v1/messages/{username}/{msgid}/retract",
        // MediaAPI
        "POST /v1/resource", "GET /v1/resource", "GET /media/{token}/{name}",
    ]

    /// Operations the document specifies ahead of the code, marked `x-mynah-pending: BRANCH` there (none now). When
    /// such a route lands, the live test fails until it moves to `registered` and loses its mark.
    static let pending: Set<String> = []

    /// One operation of the document.
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        let pending: Bool
        var description: String { "\(method) \(path)" }
    }

    /// The parsed document and its operations.
    struct Document {
        let root: [String: Any]
        let operations: [Operation]

        static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")

        static func load() throws -> Document {
            let text = try String(contentsOf: url, encoding: .utf8)
            let root = try #require(try Yams.load(yaml: text) as? [String: Any], "docs/openapi.yaml is not a mapping")
            let paths = try #require(root["paths"] as? [String: Any], "docs/openapi.yaml has no paths")
            var operations: [Operation] = []
            for (path, value) in paths {
                let item = try #require(value as? [String: Any], "paths.\(path) is not a mapping")
                for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                    guard let op = item[method] else { continue }
                    let fields = try #require(op as? [String: Any], "paths.\(path).\(method) is not a mapping")
                    operations.append(Operation(method: method.uppercased(), path: path,
                                                pending: fields["x-mynah-pending"] != nil))
                }
            }
            return Document(root: root, operations: operations)
        }
    }

    @Test("the document lists exactly the registered routes, plus the pending ones marked as such")
    func documentMatchesList() throws {
        let document = try Document.load()
        #expect(document.root["openapi"] as? String == "3.0.3")
        let served = Set(document.operations.filter { !$0.pending }.map(\.description))
        let pending = Set(document.operations.filter(\.pending).map(\.description))
        for route in Self.registered.subtracting(served).sorted() {
            Issue.record("\(route) is registered by the code but missing from docs/openapi.yaml (or marked pending)")
        }
        for route in served.subtracting(Self.registered).sorted() {
            Issue.record("\(route) is in docs/openapi.yaml but not registered by the code")
        }
        #expect(pending == Self.pending)
        #expect(document.operations.count == Set(document.operations).count)
    }

    @Test("the list is what the register(on:) functions put on a router")
    func listMatchesRouters() async throws {
        try await Demo.withDaemon { daemon, _ in
            let router = Router(context: BasicRequestContext.self)
            UsersAPI(hub: daemon.hub).register(on: router)
            MessagesAPI(hub: daemon.hub).register(on: router)
            AccountsAPI(hub: daemon.hub).register(on: router)
            RelationsAPI(hub: daemon.hub).register(on: router)
            GroupsAPI(hub: daemon.hub).register(on: router)
            ChatroomsAPI(hub: daemon.hub).register(on: router)
            SensitiveWordsAPI(hub: daemon.hub).register(on: router)
            MediaAPI(hub: daemon.hub, store: nil).register(on: router)
            MetricsEndpoint(registry: daemon.metrics).register(on: router)
            let routes = Set(router.routes.map { "\($0.method) \($0.path)" })
            #expect(routes.union(["GET /health"]) == Self.registered)
        }
    }

    @Test("every documented operation is served by a daemon: a JMessage answer, never a bare 404")
    func documentedOperationsAreServed() async throws {
        let operations = try Document.load().operations
        try await Demo.withDaemon { _, port in
            let rest = REST(port: port)
            // The detector itself: an unknown path and an unknown method get Hummingbird's bare 404.
            #expect(try await !Self.isServed(rest.call("GET", "/v1/no-such-route")))
            #expect(try await !Self.isServed(rest.call("PATCH", "/v1/users/nobody1")))
            for op in operations.sorted(by: { $0.description < $1.description }) {
                let answer = try await rest.call(op.method, Self.fill(op.path))
                if op.pending {
                    #expect(!Self.isServed(answer),
                            "\(op) is served now: remove x-mynah-pending from docs/openapi.yaml and move it to `registered`")
                } else {
                    #expect(Self.isServed(answer), "\(op) answered \(answer.status) without a JMessage error body")
                }
            }
        }
    }

    @Test("every error response of the document is the shared Error schema")
    func errorResponsesShareOneSchema() throws {
        let document = try Document.load()
        let components = try #require(document.root["components"] as? [String: Any])
        let responses = try #require(components["responses"] as? [String: Any])
        let paths = try #require(document.root["paths"] as? [String: Any])
        for op in document.operations {
            let item = try #require(paths[op.path] as? [String: Any])
            let fields = try #require(item[op.method.lowercased()] as? [String: Any])
            let answers = try #require(fields["responses"] as? [String: Any], "\(op) has no responses")
            #expect(answers.keys.contains { $0.hasPrefix("2") }, "\(op) has no success response")
            for (status, answer) in answers where Int(status).map({ $0 >= 400 }) ?? true {
                let ref = (answer as? [String: Any])?["$ref"] as? String ?? ""
                let name = ref.replacingOccurrences(of: "#/components/responses/", with: "")
                let response = responses[name] as? [String: Any]
                let schema = ((response?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"]
                #expect((schema as? [String: Any])?["$ref"] as? String == "#/components/schemas/Error",
                        "\(op) \(status) does not use the shared Error schema")
            }
        }
    }

    /// The path with dummy values for its parameters: ids `1`, names `nobody1`.
    static func fill(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            guard part.hasPrefix("{"), part.hasSuffix("}") else { return String(part) }
            return ["{gid}", "{id}", "{msgid}"].contains(part) ? "1" : "nobody1"
        }.joined(separator: "/")
    }

    /// A route exists when it answers a success or a JMessage error body; Hummingbird's answer for an unknown
    /// route is a 404 with an empty body.
    static func isServed(_ answer: (status: Int, json: JSONValue?)) -> Bool {
        if (200..<300).contains(answer.status) { return true }
        guard case .int = answer.json?["error"]?["code"] else { return false }
        return true
    }
}
