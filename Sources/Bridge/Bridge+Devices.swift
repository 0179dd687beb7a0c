import Hub
import IMProtocol

/// The device API (`/v3/devices`, `/v3/aliases`, `/v3/tags`) and the alias binding table, validated the way
/// JPush validates them (7002 bad parameter, 7008 unknown registration id, alias binding or tag).
extension Bridge {
    static func checkName(_ value: String, _ what: String, maxBytes: Int = 40) throws(BridgeError) {
        guard !value.isEmpty, value.utf8.count <= maxBytes else {
            throw .deviceInvalid("\(what): must be 1 to \(maxBytes) bytes")
        }
        guard !value.contains(","), !value.contains(where: { $0.isNewline }) else {
            throw .deviceInvalid("\(what): must not contain commas or line breaks")
        }
    }

    /// A device's tags, alias and mobile, or 7008.
    public func device(appKey: String, registrationID: String) async throws(BridgeError) -> DeviceRecord {
        try Self.checkName(registrationID, "registration_id", maxBytes: 128)
        guard let device = try await storing({ try await store.device(appKey: appKey, registrationID: registrationID) }) else {
            throw .deviceNotFound("registration_id '\(registrationID)' is not known to appkey \(appKey)")
        }
        return device
    }

    /// Applies `{"tags": "" | {"add": [...], "remove": [...]}, "alias": "...", "mobile": "..."}` to a device,
    /// creating it when new; an empty string clears the alias, the mobile or (for `tags`) every tag.
    public func updateDevice(appKey: String, registrationID: String, body: JSONValue) async throws(BridgeError) {
        try Self.checkName(registrationID, "registration_id", maxBytes: 128)
        guard case .object(let o) = body else { throw .deviceInvalid("body: expected an object, got \(body.typeName)") }
        var update = DeviceUpdate()
        var any = false
        for key in o.keys.sorted() {
            let value = o[key] ?? .null
            switch key {
            case "alias":
                guard case .string(let alias) = value else {
                    throw .deviceInvalid("alias: expected a string, got \(value.typeName)")
                }
                if !alias.isEmpty { try Self.checkName(alias, "alias") }
                update.alias = alias
            case "mobile":
                guard case .string(let mobile) = value else {
                    throw .deviceInvalid("mobile: expected a string, got \(value.typeName)")
                }
                guard mobile.isEmpty || (mobile.count <= 20 && mobile.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "+") })) else {
                    throw .deviceInvalid("mobile: expected up to 20 digits, got '\(mobile)'")
                }
                update.mobile = mobile
            case "tags":
                switch value {
                case .string(""): update.clearTags = true
                case .object(let t):
                    for k in t.keys where k != "add" && k != "remove" {
                        throw .deviceInvalid("tags.\(k): unknown key; use add and remove")
                    }
                    update.addTags = try Self.names(t["add"], "tags.add", max: 100)
                    update.removeTags = try Self.names(t["remove"], "tags.remove", max: 100)
                default:
                    throw .deviceInvalid("tags: expected \"\" or an object with add and remove, got \(value.serializedString())")
                }
            default:
                throw .deviceInvalid("\(key): unknown key; use tags, alias and mobile")
            }
            any = true
        }
        guard any else { throw .deviceInvalid("body: give at least one of tags, alias, mobile") }
        let now = hub.now()
        try await storing { try await store.updateDevice(appKey: appKey, registrationID: registrationID, update, now: now) }
    }

    static func names(_ value: JSONValue?, _ path: String, max: Int, maxBytes: Int = 40) throws(BridgeError) -> [String] {
        switch value {
        case .none, .some(.null): return []
        case .some(.array(let items)):
            guard items.count <= max else { throw .deviceInvalid("\(path): at most \(max) values, got \(items.count)") }
            var out: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw .deviceInvalid("\(path)[\(i)]: expected a string, got \(item.typeName)")
                }
                try checkName(s, "\(path)[\(i)]", maxBytes: maxBytes)
                out.append(s)
            }
            return out
        case .some(let v): throw .deviceInvalid("\(path): expected a list of strings, got \(v.typeName)")
        }
    }

    /// The registration ids bound to an alias (empty when none).
    public func registrationIDs(appKey: String, alias: String) async throws(BridgeError) -> [String] {
        try Self.checkName(alias, "alias")
        return try await storing { try await store.registrationIDs(appKey: appKey, alias: alias) }
    }

    /// Unbinds an alias from all its devices, or 7008 when no device holds it.
    public func removeAlias(appKey: String, alias: String) async throws(BridgeError) {
        try Self.checkName(alias, "alias")
        guard try await storing({ try await store.removeAlias(appKey: appKey, alias: alias) }) > 0 else {
            throw .deviceNotFound("alias '\(alias)' is not bound to any device")
        }
    }

    /// The tags of an app.
    public func tags(appKey: String) async throws(BridgeError) -> [String] {
        try await storing { try await store.tags(appKey: appKey) }
    }

    /// Whether a device carries a tag.
    public func hasTag(appKey: String, tag: String, registrationID: String) async throws(BridgeError) -> Bool {
        try Self.checkName(tag, "tag")
        try Self.checkName(registrationID, "registration_id", maxBytes: 128)
        return try await storing { try await store.registrationIDs(appKey: appKey, tag: tag) }.contains(registrationID)
    }

    /// Applies `{"registration_ids": {"add": [...], "remove": [...]}}` to a tag.
    public func updateTag(appKey: String, tag: String, body: JSONValue) async throws(BridgeError) {
        try Self.checkName(tag, "tag")
        guard case .object(let o) = body else { throw .deviceInvalid("body: expected an object, got \(body.typeName)") }
        guard case .object(let ids)? = o["registration_ids"] else {
            throw .deviceInvalid("registration_ids: required, an object with add and remove")
        }
        for k in o.keys where k != "registration_ids" { throw .deviceInvalid("\(k): unknown key") }
        for k in ids.keys where k != "add" && k != "remove" { throw .deviceInvalid("registration_ids.\(k): unknown key") }
        let add = try Self.names(ids["add"], "registration_ids.add", max: 1000, maxBytes: 128)
        let remove = try Self.names(ids["remove"], "registration_ids.remove", max: 1000, maxBytes: 128)
        guard !add.isEmpty || !remove.isEmpty else { throw .deviceInvalid("registration_ids: add or remove at least one") }
        let now = hub.now()
        try await storing { try await store.updateTag(appKey: appKey, tag: tag, add: add, remove: remove, now: now) }
    }

    /// Removes a tag from every device, or 7008 when no device carries it.
    public func removeTag(appKey: String, tag: String) async throws(BridgeError) {
        try Self.checkName(tag, "tag")
        guard try await storing({ try await store.removeTag(appKey: appKey, tag: tag) }) > 0 else {
            throw .deviceNotFound("tag '\(tag)' is not used by any device")
        }
    }

    // MARK: Bindings

    /// The username an alias is bound to in the rule's binding table, or 7008.
    public func binding(appKey: String, alias: String) async throws(BridgeError) -> String {
        try Self.checkName(alias, "alias")
        guard let username = try await storing({ try await store.binding(appKey: appKey, alias: alias) }) else {
            throw .deviceNotFound("alias '\(alias)' has no binding")
        }
        return username
    }

    /// Binds an alias to a username from `{"username": "..."}`.
    public func setBinding(appKey: String, alias: String, body: JSONValue) async throws(BridgeError) -> String {
        try Self.checkName(alias, "alias")
        guard case .object(let o) = body else { throw .deviceInvalid("body: expected an object, got \(body.typeName)") }
        for k in o.keys where k != "username" { throw .deviceInvalid("\(k): unknown key; use username") }
        guard case .string(let username)? = o["username"] else { throw .deviceInvalid("username: required, a string") }
        do {
            try Hub.validate(username: username)
        } catch {
            throw .deviceInvalid(error.message)
        }
        let now = hub.now()
        try await storing { try await store.setBinding(appKey: appKey, alias: alias, username: username, now: now) }
        return username
    }

    /// Removes a binding, or 7008.
    public func removeBinding(appKey: String, alias: String) async throws(BridgeError) {
        try Self.checkName(alias, "alias")
        guard try await storing({ try await store.removeBinding(appKey: appKey, alias: alias) }) else {
            throw .deviceNotFound("alias '\(alias)' has no binding")
        }
    }

    /// Every binding of an app.
    public func bindings(appKey: String) async throws(BridgeError) -> [(alias: String, username: String)] {
        try await storing { try await store.bindings(appKey: appKey) }
    }
}
