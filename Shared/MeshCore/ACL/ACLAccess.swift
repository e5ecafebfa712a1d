/// An ACL access level, as Consul rules spell it (`policy = "read"`).
///
/// Ordered by what they grant: `deny` < `read` < `list` < `write`. `write` grants read and list;
/// `list` (valid only for keys) grants read and list; `deny` grants nothing. When two policies give
/// the same resource different levels, `merged(with:)` applies Consul's precedence instead:
/// deny beats write beats list beats read.
public enum ACLAccess: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Explicitly refused, overriding anything broader (and any default).
    case deny
    /// Read-only access.
    case read
    /// Listing keys under a prefix (and reading them); KV rules only.
    case list
    /// Full access: write, list and read.
    case write

    /// Whether a rule at this level lets a caller do something that needs `required`.
    ///
    /// Consul's `enforce`: write grants everything, list grants list and read, read grants read,
    /// deny grants nothing. Asking for `.deny` is meaningless and is never granted.
    public func grants(_ required: ACLAccess) -> Bool {
        self != .deny && required != .deny && self >= required
    }

    /// The level that wins when two policies set this resource: deny, then write, then list, then read.
    public func merged(with other: ACLAccess) -> ACLAccess {
        self == .deny || other == .deny ? .deny : max(self, other)
    }

    /// Orders by what the level grants (`deny` < `read` < `list` < `write`).
    public static func < (lhs: ACLAccess, rhs: ACLAccess) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .deny: 0
        case .read: 1
        case .list: 2
        case .write: 3
        }
    }
}

/// A kind of named resource a rule can cover, by exact name or name prefix.
///
/// `intention` has no rules of its own: its access comes from the service rules (see
/// `ACLRules.intentions`).
public enum ACLResource: String, Sendable, Hashable, CaseIterable {
    /// `service` / `service_prefix`: catalog services (and, by default, their intentions).
    case service
    /// `node` / `node_prefix`: catalog nodes.
    case node
    /// `agent` / `agent_prefix`: agent endpoints of the named node.
    case agent
    /// `key` / `key_prefix`: KV keys.
    case key
    /// `session` / `session_prefix`: sessions on the named node.
    case session
    /// `event` / `event_prefix`: user events.
    case event
    /// `query` / `query_prefix`: prepared queries.
    case query
    /// Intentions whose destination is the named service.
    case intention
}

/// A resource that is a single switch rather than a set of names (`operator = "read"`).
public enum ACLSingleton: String, Sendable, Hashable, CaseIterable {
    /// Cluster operator endpoints (Raft, autopilot, ...); also the fallback for `mesh` and `peering`.
    case `operator`
    /// ACL tokens, policies and roles. Never granted by default: needs a rule or management.
    case acl
    /// Mesh-wide configuration; falls back to `operator` when unset.
    case mesh
    /// Cluster peerings; falls back to `operator` when unset.
    case peering
    /// The gossip encryption keyring.
    case keyring
}

/// What an authorizer answers when no rule matches: Consul's `acl.default_policy`.
public enum ACLDefault: String, Sendable, Hashable, CaseIterable {
    /// Allow everything no rule denies, except ACL management itself.
    case allow
    /// Deny everything no rule allows.
    case deny
}
