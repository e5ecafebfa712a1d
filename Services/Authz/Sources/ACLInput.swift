import Foundation
import MeshCore
import MeshRPC

/// Reads ACL request bodies the way Consul does (case-insensitive keys) and applies Consul's
/// validation. Where Consul answers invalid input with 500 we answer 400, with its message.
enum ACLInput {
    static var identityName: Regex<(Substring, Substring?)> { #/^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$/# }
    static var policyName: Regex<Substring> { #/^[A-Za-z0-9\-_]+\/?[A-Za-z0-9\-_]*$/# }
    static var roleName: Regex<Substring> { #/^[A-Za-z0-9\-_]{1,256}$/# }
    static let reservedPrefix = "00000000-0000-0000-0000-0000000000"
    static let minimumTTL: Duration = .seconds(60)
    static let maximumTTL: Duration = .seconds(86_400)

    static func links(_ body: LenientObject, _ key: String) throws(ValidationError) -> [LinkInput] {
        try (body.objectArray(key) ?? []).map { (link) throws(ValidationError) in
            LinkInput(id: try link.string("ID"), name: try link.string("Name"))
        }
    }

    static func serviceIdentities(_ body: LenientObject, owner: String) throws(ValidationError) -> [ACLServiceIdentity]
    {
        var result: [ACLServiceIdentity] = []
        for item in try body.objectArray("ServiceIdentities") ?? [] {
            let name = try item.string("ServiceName") ?? ""
            guard !name.isEmpty else {
                throw ValidationError(
                    field: "\(item.path).ServiceName",
                    reason: "Service identity is missing the service name field on this \(owner)"
                )
            }
            guard name.count <= 256, name.wholeMatch(of: Self.identityName) != nil else {
                throw ValidationError(
                    field: "\(item.path).ServiceName",
                    reason: "Service identity \"\(name)\" has an invalid name. Only lowercase alphanumeric "
                        + "characters, '-' and '_' are allowed"
                )
            }
            let datacenters = try item.stringArray("Datacenters") ?? []
            if let index = result.firstIndex(where: { $0.serviceName == name }) {
                result[index].datacenters = Array(Set(result[index].datacenters + datacenters)).sorted()
            } else {
                result.append(ACLServiceIdentity(serviceName: name, datacenters: datacenters.sorted()))
            }
        }
        return result
    }

    static func nodeIdentities(_ body: LenientObject, owner: String) throws(ValidationError) -> [ACLNodeIdentity] {
        var result: [ACLNodeIdentity] = []
        for item in try body.objectArray("NodeIdentities") ?? [] {
            let name = try item.string("NodeName") ?? ""
            let datacenter = try item.string("Datacenter") ?? ""
            guard !name.isEmpty else {
                throw ValidationError(
                    field: "\(item.path).NodeName",
                    reason: "Node identity is missing the node name field on this \(owner)"
                )
            }
            guard !datacenter.isEmpty else {
                throw ValidationError(
                    field: "\(item.path).Datacenter",
                    reason: "Node identity is missing the datacenter field on this \(owner)"
                )
            }
            guard name.wholeMatch(of: Self.identityName) != nil else {
                throw ValidationError(
                    field: "\(item.path).NodeName",
                    reason: "Node identity has an invalid name. Only lowercase alphanumeric characters, '-' and '_' "
                        + "are allowed"
                )
            }
            let identity = ACLNodeIdentity(nodeName: name, datacenter: datacenter)
            if !result.contains(identity) { result.append(identity) }
        }
        return result
    }

    static func uuid(_ body: LenientObject, _ key: String) throws(ValidationError) -> String? {
        guard let value = try body.string(key), !value.isEmpty else { return nil }
        guard AuthzStore.isUUID(value) else {
            throw ValidationError(field: key, reason: "Invalid Token: \(key) - not a valid UUID")
        }
        guard !value.hasPrefix(Self.reservedPrefix) else {
            throw ValidationError(
                field: key,
                reason: "Invalid Token: \(key) - UUIDs with the prefix \"\(Self.reservedPrefix)\" are reserved"
            )
        }
        return value.lowercased()
    }

    /// A token body for create (`creating`) or update.
    static func token(_ body: LenientObject, creating: Bool, now: Date = Date()) throws(ValidationError) -> TokenInput {
        if let method = try body.string("AuthMethod"), !method.isEmpty, creating {
            throw ValidationError(field: "AuthMethod", reason: "AuthMethod field is disallowed outside of login")
        }
        let ttl = try body.duration("ExpirationTTL")
        var expiry: Date?
        if let text = try body.string("ExpirationTime"), !text.isEmpty {
            guard let parsed = Self.date(text) else {
                throw ValidationError(field: "ExpirationTime", reason: "expected an RFC 3339 time")
            }
            expiry = parsed
        }
        if let ttl {
            guard expiry == nil else {
                throw ValidationError(
                    field: "ExpirationTTL",
                    reason: "Token Expiration TTL and Expiration Time cannot both be set"
                )
            }
            guard ttl > .zero else {
                throw ValidationError(field: "ExpirationTTL", reason: "Token Expiration TTL should be > 0")
            }
            guard creating else {
                throw ValidationError(field: "ExpirationTTL", reason: "Cannot change expiration time")
            }
            expiry = now.addingTimeInterval(TimeInterval(ttl.components.seconds))
        }
        if let expiry, creating {
            let remaining = Duration.seconds(expiry.timeIntervalSince(now))
            guard remaining >= .zero else {
                throw ValidationError(field: "ExpirationTime", reason: "ExpirationTime cannot be before CreateTime")
            }
            guard remaining <= Self.maximumTTL + .seconds(1) else {
                throw ValidationError(
                    field: "ExpirationTime",
                    reason: "ExpirationTime cannot be more than 24h0m0s in the future "
                        + "(was \(GoDuration.format(remaining)))"
                )
            }
            guard remaining >= Self.minimumTTL - .seconds(1) else {
                throw ValidationError(
                    field: "ExpirationTime",
                    reason:
                        "ExpirationTime cannot be less than 1m0s in the future (was \(GoDuration.format(remaining)))"
                )
            }
        }
        return TokenInput(
            accessorID: try Self.uuid(body, "AccessorID"),
            secretID: try Self.uuid(body, "SecretID"),
            description: try body.string("Description") ?? "",
            policies: try Self.links(body, "Policies"),
            roles: try Self.links(body, "Roles"),
            serviceIdentities: try Self.serviceIdentities(body, owner: "token"),
            nodeIdentities: try Self.nodeIdentities(body, owner: "token"),
            local: try body.bool("Local") ?? false,
            authMethod: "",
            expirationTime: expiry
        )
    }

    static func date(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// A policy body. Rules must parse (HCL or JSON); the error gives the line and column.
    static func policy(_ body: LenientObject) throws(ValidationError) -> PolicyInput {
        let name = try body.string("Name") ?? ""
        guard !name.isEmpty else { throw ValidationError(field: "Name", reason: "Invalid Policy: no Name is set") }
        guard name.count < 128 else {
            throw ValidationError(
                field: "Name",
                reason: "Invalid Policy: invalid Name. Length must be greater than 0 and less than 128"
            )
        }
        guard !name.hasPrefix("/"), !name.hasPrefix("builtin/") else {
            throw ValidationError(
                field: "Name",
                reason: "Invalid Policy: invalid Name. Names cannot be prefixed with '/' or 'builtin/'"
            )
        }
        guard name.wholeMatch(of: Self.policyName) != nil else {
            throw ValidationError(
                field: "Name",
                reason: "Invalid Policy: invalid Name. Only alphanumeric characters, a single '/', '-' and '_' are "
                    + "allowed"
            )
        }
        let rules = try body.string("Rules") ?? ""
        do {
            _ = try ACLRules.parse(rules)
        } catch {
            throw ValidationError(field: "Rules", reason: "Failed to parse ACL rules: \(error)")
        }
        return PolicyInput(
            id: nil,
            name: name,
            description: try body.string("Description") ?? "",
            rules: rules,
            datacenters: try body.stringArray("Datacenters") ?? []
        )
    }

    static func role(_ body: LenientObject) throws(ValidationError) -> RoleInput {
        let name = try body.string("Name") ?? ""
        guard !name.isEmpty else { throw ValidationError(field: "Name", reason: "Invalid Role: no Name is set") }
        guard name.wholeMatch(of: Self.roleName) != nil else {
            throw ValidationError(
                field: "Name",
                reason: "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"
            )
        }
        return RoleInput(
            id: nil,
            name: name,
            description: try body.string("Description") ?? "",
            policies: try Self.links(body, "Policies"),
            serviceIdentities: try Self.serviceIdentities(body, owner: "role"),
            nodeIdentities: try Self.nodeIdentities(body, owner: "role")
        )
    }
}
