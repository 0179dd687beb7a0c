import Foundation
import Hub
import Hummingbird
import IMProtocol

extension ConsoleAPI {
    /// GET /console/api/apps/{appkey}/users/{username}/sessions: userstat with each device's id (the REST API's
    /// `POST /v1/users/userstat` has JMessage's shape, without it), so that one device's session can be ended.
    func userSessions(_ request: Request, _ context: Context) async throws -> Response {
        let (_, session) = try consoleSession(request, change: false)
        let appKey = try context.pathParameter("appkey")
        guard session.principal.manages(appKey) else { throw Self.notYourApp(appKey) }
        let username = try context.pathParameter("username")
        let stat: UserStat
        do {
            stat = try await hub.userStat(appKey: appKey, username: username)
        } catch {
            throw APIError(error)
        }
        return json(.ok, [
            "username": .string(username), "login": .bool(stat.login), "online": .bool(stat.online),
            "devices": .array(stat.devices.map { d in
                ["device": .string(d.device), "platform": .string(d.platform), "login": .bool(d.login),
                 "online": .bool(d.online)]
            }),
        ])
    }

    /// DELETE /console/api/apps/{appkey}/users/{username}/sessions[?device=ID]: ends the user's gateway sessions (of
    /// one device, when given); each gets a fatal error frame and its connection closes. The REST API has no such
    /// call, so it is the console's, with its session and CSRF checks. Answers `{"ended": N}`.
    func endSessions(_ request: Request, _ context: Context) async throws -> Response {
        let (_, session) = try consoleSession(request, change: true)
        let appKey = try context.pathParameter("appkey")
        guard session.principal.manages(appKey) else { throw Self.notYourApp(appKey) }
        let username = try context.pathParameter("username")
        let device = request.uri.queryParameters["device"].map(String.init)
        if let device, device.isEmpty || device.utf8.count > 128 {
            throw APIError(.invalidParameter, "device: must be 1 to 128 bytes")
        }
        do {
            let ended = try await hub.endSessions(appKey: appKey, username: username, device: device)
            return json(.ok, ["ended": .int(Int64(ended))])
        } catch {
            throw APIError(error)
        }
    }

    /// GET /chat/api/history?type=single|group&id=X: the signed-in user's messages of one conversation in the last
    /// 7 days (the history API's range), the latest 200, oldest first: what the chat shows when a conversation opens,
    /// beyond the messages of the live session. A group's history needs membership.
    func chatHistory(_ request: Request) async throws -> Response {
        let (_, session) = try self.session(request, cookie: Self.chatCookie, change: false)
        guard case .user(let appKey, let username) = session.principal else { throw Self.signedOut }
        let params = request.uri.queryParameters
        guard let id = params["id"].map(String.init), !id.isEmpty, id.utf8.count <= 128 else {
            throw APIError(.invalidParameter, "id: required, 1 to 128 bytes")
        }
        let kind = params["type"].map(String.init) ?? "single"
        let now = hub.now()
        let keep = 200
        var messages: [StoredMessage] = []
        do {
            let me = try await hub.user(appKey: appKey, username: username)
            var query: HistoryQuery
            let wanted: (StoredMessage) -> Bool
            switch kind {
            case "single":
                query = HistoryQuery(appKey: appKey, username: username, beginTime: now - 7 * 86_400_000, endTime: now,
                                     count: 1000)
                wanted = { s in
                    let m = s.message
                    guard m.targetType == .single else { return false }
                    return (m.fromID == username && m.targetID == id) || (m.fromID == id && m.targetID == username)
                }
            case "group":
                guard let gid = Int64(id) else { throw APIError(.invalidParameter, "id: a group id is an integer") }
                guard try await hub.groups(of: me).contains(where: { $0.gid == gid }) else {
                    throw APIError(.notAMember, "\(username) is not a member of group \(gid)")
                }
                query = HistoryQuery(appKey: appKey, conversation: (.group, String(gid)), beginTime: now - 7 * 86_400_000,
                                     endTime: now, count: 1000)
                wanted = { _ in true }
            default:
                throw APIError(.invalidParameter, "type: expected single or group, got '\(kind)'")
            }
            // Ascending pages; only the latest `keep` matching ones are kept.
            while true {
                let page = try await hub.history(query)
                messages.append(contentsOf: page.messages.filter(wanted))
                if messages.count > keep { messages.removeFirst(messages.count - keep) }
                guard page.messages.count == query.count, let last = page.messages.last else { break }
                query.afterMsgID = last.msgID
            }
        } catch let error as HubError {
            throw APIError(error)
        }
        return json(.ok, ["messages": .array(messages.map { $0.historyJSON(appKey: appKey) })])
    }

    /// GET /chat/api/conversations: the signed-in user's conversations of the last 7 days (the users it exchanged
    /// messages with, newest first, from the history API) and its groups, so that the chat lists them after a reload
    /// even when nothing new arrived. Reads at most 10 pages of 1000 messages.
    func chatConversations(_ request: Request) async throws -> Response {
        let (_, session) = try self.session(request, cookie: Self.chatCookie, change: false)
        guard case .user(let appKey, let username) = session.principal else { throw Self.signedOut }
        let found: RecentConversations
        do {
            found = try await recentConversations(appKey: appKey, username: username)
        } catch {
            throw APIError(error)
        }
        var list: [(json: JSONValue, ctime: Int64)] = found.peers.map { peer, info in
            (["type": "single", "id": .string(peer), "title": info.title.map(JSONValue.string) ?? .null,
              "last_ctime": .int(info.ctime)], info.ctime)
        }
        for group in found.groups {
            let id = String(group.gid)
            let ctime = found.groupTimes[id]
            list.append((["type": "group", "id": .string(id), "title": .string(group.name),
                          "last_ctime": ctime.map(JSONValue.int) ?? .null], ctime ?? 0))
        }
        list.sort { $0.ctime > $1.ctime }
        return json(.ok, ["conversations": .array(list.map(\.json))])
    }

    /// What ``chatConversations(_:)`` lists, read from the hub.
    struct RecentConversations {
        var peers: [String: (title: String?, ctime: Int64)] = [:]
        var groupTimes: [String: Int64] = [:]
        var groups: [Group] = []
    }

    func recentConversations(appKey: String, username: String) async throws(HubError) -> RecentConversations {
        var found = RecentConversations()
        let me = try await hub.user(appKey: appKey, username: username)
        found.groups = try await hub.groups(of: me)
        let now = hub.now()
        var query = HistoryQuery(appKey: appKey, username: username, beginTime: now - 7 * 86_400_000, endTime: now,
                                 count: 1000)
        for _ in 0..<10 {
            let page = try await hub.history(query)
            for stored in page.messages {
                let m = stored.message
                switch m.targetType {
                case .single:
                    let mine = m.fromID == username && (m.fromAppKey ?? appKey) == appKey
                    let peer = mine ? m.targetID : m.fromID
                    let named = (mine ? m.targetName : m.fromName).flatMap { $0.isEmpty ? nil : $0 }
                    found.peers[peer] = (named ?? found.peers[peer]?.title, stored.msgCtime)
                case .group:
                    found.groupTimes[m.targetID] = stored.msgCtime
                case .chatroom:
                    break
                }
            }
            guard page.messages.count == query.count, let last = page.messages.last else { break }
            query.afterMsgID = last.msgID
        }
        return found
    }
}
