public import Foundation
public import MeshCore

/// What a token secret resolves to: its accessor and every rule it carries, directly, through
/// roles, or as service and node identities. authz-svc produces it; every service builds its
/// `ACLAuthorizer` from it.
public struct ResolvedToken: Sendable, Equatable {
    public var accessorID: String
    /// The token links the built-in global-management policy.
    public var isManagement: Bool
    /// The rules texts (HCL or JSON) of every policy the token carries.
    public var rules: [String]
    public var serviceIdentities: [String]
    public var nodeIdentities: [String]
    /// When the token stops being valid; nil when it never expires.
    public var expirationTime: Date?

    public init(
        accessorID: String,
        isManagement: Bool,
        rules: [String],
        serviceIdentities: [String],
        nodeIdentities: [String],
        expirationTime: Date?
    ) {
        self.accessorID = accessorID
        self.isManagement = isManagement
        self.rules = rules
        self.serviceIdentities = serviceIdentities
        self.nodeIdentities = nodeIdentities
        self.expirationTime = expirationTime
    }

    /// The authorizer for this token under the cluster's default policy. A stored policy whose
    /// rules no longer parse grants nothing (it was validated when written).
    public func authorizer(default defaultPolicy: ACLDefault) -> ACLAuthorizer {
        if self.isManagement { return .management }
        var rules: [ACLRules] = self.rules.compactMap { try? ACLRules.parse($0) }
        rules += self.serviceIdentities.map(ACLIdentities.serviceIdentity)
        rules += self.nodeIdentities.map(ACLIdentities.nodeIdentity)
        return ACLAuthorizer(rules: rules, default: defaultPolicy)
    }
}
