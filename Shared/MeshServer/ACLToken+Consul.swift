public import Foundation
public import MeshCore
public import MeshProto
import SwiftProtobuf

extension Mesh_V1_ACLToken {
    /// Consul's JSON for a token (agent/structs/acl.go field names; omitempty fields left out
    /// when empty). The secret reads `<hidden>` unless known: right after creation, or to its
    /// own holder (`/v1/acl/token/self`), since only its hash is stored.
    public var consulJSON: JSONValue {
        var object: [String: JSONValue] = [
            "AccessorID": .string(self.accessorID),
            "SecretID": .string(self.secretID.isEmpty ? "<hidden>" : self.secretID),
            "Description": .string(self.description_p),
            "Local": .bool(self.local),
            "CreateTime": .consulTime(self.createTime.date),
            "Hash": .string(self.hash),
            "CreateIndex": .number(Double(self.createIndex)),
            "ModifyIndex": .number(Double(self.modifyIndex)),
        ]
        if !self.policies.isEmpty { object["Policies"] = .array(self.policies.map(\.consulJSON)) }
        if !self.roles.isEmpty { object["Roles"] = .array(self.roles.map(\.consulJSON)) }
        if !self.serviceIdentities.isEmpty {
            object["ServiceIdentities"] = .array(self.serviceIdentities.map(\.consulJSON))
        }
        if !self.nodeIdentities.isEmpty { object["NodeIdentities"] = .array(self.nodeIdentities.map(\.consulJSON)) }
        if !self.authMethod.isEmpty { object["AuthMethod"] = .string(self.authMethod) }
        if self.hasExpirationTime { object["ExpirationTime"] = .consulTime(self.expirationTime.date) }
        return .object(object)
    }

}

extension Mesh_V1_ACLLink {
    /// A link to a policy or role as Consul shows it.
    public var consulJSON: JSONValue { .object(["ID": .string(self.id), "Name": .string(self.name)]) }
}

extension Mesh_V1_LoginServiceIdentity {
    /// A service identity as Consul shows it (in tokens and roles).
    public var consulJSON: JSONValue {
        var object: [String: JSONValue] = ["ServiceName": .string(self.serviceName)]
        if !self.datacenters.isEmpty { object["Datacenters"] = .array(self.datacenters.map(JSONValue.string)) }
        return .object(object)
    }
}

extension Mesh_V1_LoginNodeIdentity {
    /// A node identity as Consul shows it (in tokens and roles).
    public var consulJSON: JSONValue {
        .object(["NodeName": .string(self.nodeName), "Datacenter": .string(self.datacenter)])
    }
}

extension JSONValue {
    /// A time as Consul's API writes it (RFC 3339 with fractional seconds).
    public static func consulTime(_ date: Date) -> JSONValue {
        .string(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date))
    }
}
