import Crypto
import Foundation
import MeshCore
import MeshProto
import MeshServer
import SwiftProtobuf

/// Consul's JSON for ACL objects (agent/structs/acl.go field names; omitempty fields left out
/// when empty).
enum ACLJSON {
    static func date(_ date: Date) -> JSONValue { .consulTime(date) }

    static func links(_ links: [ACLLink]) -> JSONValue { .array(links.map { Mesh_V1_ACLLink($0).consulJSON }) }

    static func serviceIdentities(_ identities: [ACLServiceIdentity]) -> JSONValue {
        .array(identities.map { Mesh_V1_LoginServiceIdentity($0).consulJSON })
    }

    static func nodeIdentities(_ identities: [ACLNodeIdentity]) -> JSONValue {
        .array(identities.map { Mesh_V1_LoginNodeIdentity($0).consulJSON })
    }

    /// A stable digest of the fields Consul hashes, base64 (clients treat it as opaque).
    static func hash(_ parts: [String]) -> JSONValue { .string(Self.digest(parts)) }

    static func digest(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Array(part.utf8))
            hasher.update(data: [0])
        }
        return Data(hasher.finalize()).base64EncodedString()
    }

    /// A token, as every API shows it (see `Mesh_V1_ACLToken.consulJSON`).
    static func token(_ token: ACLToken) -> JSONValue { Mesh_V1_ACLToken(token).consulJSON }

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

extension Mesh_V1_ACLToken {
    /// The token as the contract carries it, with Consul's hash of its fields.
    init(_ token: ACLToken) {
        self = .with {
            $0.accessorID = token.accessorID
            $0.secretID = token.secretID ?? ""
            $0.description_p = token.description
            $0.policies = token.policies.map(Mesh_V1_ACLLink.init)
            $0.roles = token.roles.map(Mesh_V1_ACLLink.init)
            $0.serviceIdentities = token.serviceIdentities.map(Mesh_V1_LoginServiceIdentity.init)
            $0.nodeIdentities = token.nodeIdentities.map(Mesh_V1_LoginNodeIdentity.init)
            $0.local = token.local
            $0.authMethod = token.authMethod
            if let expiry = token.expirationTime { $0.expirationTime = Google_Protobuf_Timestamp(date: expiry) }
            $0.createTime = Google_Protobuf_Timestamp(date: token.createTime)
            $0.hash = ACLJSON.digest(
                [token.description, token.local ? "local" : "global"] + token.policies.map(\.id)
                    + token.roles.map(\.id) + token.serviceIdentities.map(\.serviceName)
                    + token.nodeIdentities.map(\.nodeName)
            )
            $0.createIndex = token.createIndex
            $0.modifyIndex = token.modifyIndex
        }
    }
}

extension Mesh_V1_ACLLink {
    init(_ link: ACLLink) {
        self = .with {
            $0.id = link.id
            $0.name = link.name
        }
    }
}

extension Mesh_V1_LoginServiceIdentity {
    init(_ identity: ACLServiceIdentity) {
        self = .with {
            $0.serviceName = identity.serviceName
            $0.datacenters = identity.datacenters
        }
    }
}

extension Mesh_V1_LoginNodeIdentity {
    init(_ identity: ACLNodeIdentity) {
        self = .with {
            $0.nodeName = identity.nodeName
            $0.datacenter = identity.datacenter
        }
    }
}
