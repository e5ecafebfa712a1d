import Foundation
import MeshCore

/// A reference from a token or role to a policy or role, as Consul shows it (`{"ID", "Name"}`).
struct ACLLink: Sendable, Hashable {
    var id: String
    var name: String
}

/// Consul's service identity: a synthetic policy to write one service (and its sidecar) and
/// read the rest of the catalog.
struct ACLServiceIdentity: Sendable, Hashable, Codable {
    var serviceName: String
    var datacenters: [String]

    enum CodingKeys: String, CodingKey {
        case serviceName = "ServiceName"
        case datacenters = "Datacenters"
    }
}

/// Consul's node identity: a synthetic policy to write one node and read services.
struct ACLNodeIdentity: Sendable, Hashable, Codable {
    var nodeName: String
    var datacenter: String

    enum CodingKeys: String, CodingKey {
        case nodeName = "NodeName"
        case datacenter = "Datacenter"
    }
}

/// A named set of rules.
struct ACLPolicy: Sendable, Equatable {
    var id: String
    var name: String
    var description: String
    var rules: String
    var datacenters: [String]
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex
}

/// A named bundle of policies and identities that tokens link to.
struct ACLRole: Sendable, Equatable {
    var id: String
    var name: String
    var description: String
    var policies: [ACLLink]
    var serviceIdentities: [ACLServiceIdentity]
    var nodeIdentities: [ACLNodeIdentity]
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex
}

/// A token as stored. The secret itself is only known right after creation (`secretID`); the
/// store keeps its hash.
struct ACLToken: Sendable, Equatable {
    var accessorID: String
    /// Set only in the response to the call that created the token.
    var secretID: String?
    var description: String
    var policies: [ACLLink]
    var roles: [ACLLink]
    var serviceIdentities: [ACLServiceIdentity]
    var nodeIdentities: [ACLNodeIdentity]
    var local: Bool
    var authMethod: String
    var expirationTime: Date?
    var createTime: Date
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex
}
