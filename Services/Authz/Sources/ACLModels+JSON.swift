import Crypto
import Foundation
import MeshCore

/// Consul's JSON for ACL objects (agent/structs/acl.go field names; omitempty fields left out
/// when empty).
enum ACLJSON {
    static func date(_ date: Date) -> JSONValue {
        .string(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date))
    }

    static func links(_ links: [ACLLink]) -> JSONValue {
        .array(links.map { .object(["ID": .string($0.id), "Name": .string($0.name)]) })
    }

    static func serviceIdentities(_ identities: [ACLServiceIdentity]) -> JSONValue {
        .array(
            identities.map { identity in
                var object: [String: JSONValue] = ["ServiceName": .string(identity.serviceName)]
                if !identity.datacenters.isEmpty {
                    object["Datacenters"] = .array(identity.datacenters.map(JSONValue.string))
                }
                return .object(object)
            }
        )
    }

    static func nodeIdentities(_ identities: [ACLNodeIdentity]) -> JSONValue {
        .array(
            identities.map {
                .object(["NodeName": .string($0.nodeName), "Datacenter": .string($0.datacenter)])
            }
        )
    }

    /// A stable digest of the fields Consul hashes, base64 (clients treat it as opaque).
    static func hash(_ parts: [String]) -> JSONValue {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Array(part.utf8))
            hasher.update(data: [0])
        }
        return .string(Data(hasher.finalize()).base64EncodedString())
    }

    /// A token. The secret is shown only when known: right after creation, or to its own holder
    /// (`/v1/acl/token/self`); elsewhere it reads `<hidden>`, since only its hash is stored.
    static func token(_ token: ACLToken) -> JSONValue {
        var object: [String: JSONValue] = [
            "AccessorID": .string(token.accessorID),
            "SecretID": .string(token.secretID ?? "<hidden>"),
            "Description": .string(token.description),
            "Local": .bool(token.local),
            "CreateTime": Self.date(token.createTime),
            "CreateIndex": .number(Double(token.createIndex)),
            "ModifyIndex": .number(Double(token.modifyIndex)),
        ]
        if !token.policies.isEmpty { object["Policies"] = Self.links(token.policies) }
        if !token.roles.isEmpty { object["Roles"] = Self.links(token.roles) }
        if !token.serviceIdentities.isEmpty {
            object["ServiceIdentities"] = Self.serviceIdentities(token.serviceIdentities)
        }
        if !token.nodeIdentities.isEmpty { object["NodeIdentities"] = Self.nodeIdentities(token.nodeIdentities) }
        if !token.authMethod.isEmpty { object["AuthMethod"] = .string(token.authMethod) }
        if let expiry = token.expirationTime { object["ExpirationTime"] = Self.date(expiry) }
        object["Hash"] = Self.hash(
            [token.description, token.local ? "local" : "global"] + token.policies.map(\.id) + token.roles.map(\.id)
                + token.serviceIdentities.map(\.serviceName) + token.nodeIdentities.map(\.nodeName)
        )
        return .object(object)
    }

    /// A policy; the list form leaves out `Rules` and always carries `Datacenters`.
    static func policy(_ policy: ACLPolicy, stub: Bool = false) -> JSONValue {
        var object: [String: JSONValue] = [
            "ID": .string(policy.id),
            "Name": .string(policy.name),
            "Description": .string(policy.description),
            "Hash": Self.hash([policy.name, policy.description, policy.rules] + policy.datacenters),
            "CreateIndex": .number(Double(policy.createIndex)),
            "ModifyIndex": .number(Double(policy.modifyIndex)),
        ]
        if !stub { object["Rules"] = .string(policy.rules) }
        if stub {
            object["Datacenters"] =
                policy.datacenters.isEmpty ? .null : .array(policy.datacenters.map(JSONValue.string))
        } else if !policy.datacenters.isEmpty {
            object["Datacenters"] = .array(policy.datacenters.map(JSONValue.string))
        }
        return .object(object)
    }

    static func role(_ role: ACLRole) -> JSONValue {
        var object: [String: JSONValue] = [
            "ID": .string(role.id),
            "Name": .string(role.name),
            "Description": .string(role.description),
            "Hash": Self.hash(
                [role.name, role.description] + role.policies.map(\.id) + role.serviceIdentities.map(\.serviceName)
            ),
            "CreateIndex": .number(Double(role.createIndex)),
            "ModifyIndex": .number(Double(role.modifyIndex)),
        ]
        if !role.policies.isEmpty { object["Policies"] = Self.links(role.policies) }
        if !role.serviceIdentities.isEmpty {
            object["ServiceIdentities"] = Self.serviceIdentities(role.serviceIdentities)
        }
        if !role.nodeIdentities.isEmpty { object["NodeIdentities"] = Self.nodeIdentities(role.nodeIdentities) }
        return .object(object)
    }
}
