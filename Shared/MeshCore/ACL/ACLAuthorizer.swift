/// Answers "may this token do that?" from the token's rules and the cluster's default policy, with
/// the semantics of Consul's policy authorizer chained to its allow-all or deny-all root.
///
/// The rules of all the token's policies, its roles' policies and its service and node identities
/// are merged first (deny beats write beats list beats read for the same name). Then, for a named
/// resource, the exact rule for the name wins, else the longest matching prefix rule, else the
/// default. A matching rule decides on its own: `service "web" { policy = "read" }` denies writing
/// `web` even under default allow. Write implies read (and list).
public struct ACLAuthorizer: Sendable {
    /// The token's rules, merged; empty for `management`.
    public let rules: ACLRules
    /// What is answered when no rule matches.
    public let defaultPolicy: ACLDefault
    /// Whether this authorizer allows everything (a management token).
    public let isManagement: Bool

    private let tables: [ACLResource: ACLRuleTable]

    /// An authorizer for a token whose policies (and roles' and identities' synthetic policies) hold
    /// `rules`, in a cluster whose default policy is `defaultPolicy`.
    ///
    /// Under `.allow`, anything no rule covers is allowed except reading or writing ACLs, which needs
    /// an `acl` rule or management (Consul's allow-all authorizer). Under `.deny`, it is denied.
    public init(rules: [ACLRules], default defaultPolicy: ACLDefault) {
        let merged = ACLRules.merged(rules)
        self.rules = merged
        self.defaultPolicy = defaultPolicy
        self.isManagement = false
        var tables: [ACLResource: ACLRuleTable] = [:]
        for resource in ACLResource.allCases {
            tables[resource] = ACLRuleTable(merged[resource])
        }
        self.tables = tables
    }

    private init(managementWithDefault defaultPolicy: ACLDefault) {
        self.rules = ACLRules()
        self.defaultPolicy = defaultPolicy
        self.isManagement = true
        self.tables = [:]
    }

    /// Allows everything, ACL management included: the global-management policy's and the initial
    /// management token's authorizer.
    public static let management = ACLAuthorizer(managementWithDefault: .allow)

    /// Whether `access` to the resource `name` is allowed: the exact rule for `name`, else the
    /// longest prefix rule matching it, else the default. `.deny` is never "allowed".
    public func allows(_ resource: ACLResource, _ name: String, _ access: ACLAccess) -> Bool {
        guard access != .deny else { return false }
        if self.isManagement { return true }
        if let level = self.tables[resource]?.access(for: name) {
            return level.grants(access)
        }
        return self.defaultPolicy == .allow
    }

    /// Whether some service may be written at all: management, default allow, or a service rule
    /// granting write. A caller for whom this is false can be refused before it names a service.
    public var mayWriteSomeService: Bool {
        if self.isManagement || self.defaultPolicy == .allow { return true }
        let rules = self.rules.services
        return (Array(rules.exact.values) + Array(rules.prefix.values)).contains { $0.policy.grants(.write) }
    }

    /// Whether `access` to a singleton resource is allowed: its rule, else (for `mesh` and `peering`)
    /// the `operator` rule, else the default, which never allows `acl`. `.deny` is never "allowed".
    public func allows(_ singleton: ACLSingleton, _ access: ACLAccess) -> Bool {
        guard access != .deny else { return false }
        if self.isManagement { return true }
        let level: ACLAccess? =
            switch singleton {
            case .mesh, .peering: self.rules[singleton] ?? self.rules.operator
            case .operator, .acl, .keyring: self.rules[singleton]
            }
        if let level { return level.grants(access) }
        return self.defaultPolicy == .allow && singleton != .acl
    }
}

extension ACLAuthorizer {
    /// Whether the service `name` may be read (catalog, health, discovery).
    public func serviceRead(_ name: String) -> Bool { self.allows(.service, name, .read) }
    /// Whether the service `name` may be registered, changed or deregistered.
    public func serviceWrite(_ name: String) -> Bool { self.allows(.service, name, .write) }
    /// Whether the node `name` may be read.
    public func nodeRead(_ name: String) -> Bool { self.allows(.node, name, .read) }
    /// Whether the node `name` may be registered, changed or deregistered.
    public func nodeWrite(_ name: String) -> Bool { self.allows(.node, name, .write) }
    /// Whether the agent endpoints of node `name` may be read.
    public func agentRead(_ name: String) -> Bool { self.allows(.agent, name, .read) }
    /// Whether the agent endpoints of node `name` may change state.
    public func agentWrite(_ name: String) -> Bool { self.allows(.agent, name, .write) }
    /// Whether intentions with destination service `name` may be read.
    public func intentionRead(_ name: String) -> Bool { self.allows(.intention, name, .read) }
    /// Whether intentions with destination service `name` may be created, changed or deleted.
    public func intentionWrite(_ name: String) -> Bool { self.allows(.intention, name, .write) }
    /// Whether the KV key `key` may be read.
    public func keyRead(_ key: String) -> Bool { self.allows(.key, key, .read) }
    /// Whether the keys under `prefix` may be listed.
    public func keyList(_ prefix: String) -> Bool { self.allows(.key, prefix, .list) }
    /// Whether the KV key `key` may be written or deleted.
    public func keyWrite(_ key: String) -> Bool { self.allows(.key, key, .write) }
    /// Whether every key under `prefix` may be written or deleted (a recursive delete): write on
    /// the prefix, and no rule for a longer name under it that denies writing (Consul's
    /// `KeyWritePrefix`).
    public func keyWritePrefix(_ prefix: String) -> Bool {
        guard self.keyWrite(prefix) else { return false }
        if self.isManagement { return true }
        let rules = self.rules.keys
        let under =
            Array(rules.exact.filter { $0.key.hasPrefix(prefix) }.values)
            + Array(rules.prefix.filter { $0.key.hasPrefix(prefix) }.values)
        return under.allSatisfy { $0.policy.grants(.write) }
    }
    /// Whether sessions on node `name` may be read.
    public func sessionRead(_ name: String) -> Bool { self.allows(.session, name, .read) }
    /// Whether sessions on node `name` may be created or destroyed.
    public func sessionWrite(_ name: String) -> Bool { self.allows(.session, name, .write) }
    /// Whether the user event `name` may be read.
    public func eventRead(_ name: String) -> Bool { self.allows(.event, name, .read) }
    /// Whether the user event `name` may be fired.
    public func eventWrite(_ name: String) -> Bool { self.allows(.event, name, .write) }
    /// Whether the prepared query `name` may be read.
    public func queryRead(_ name: String) -> Bool { self.allows(.query, name, .read) }
    /// Whether the prepared query `name` may be created, changed or deleted.
    public func queryWrite(_ name: String) -> Bool { self.allows(.query, name, .write) }

    /// Whether ACL tokens, policies and roles may be read.
    public var aclRead: Bool { self.allows(.acl, .read) }
    /// Whether ACL tokens, policies and roles may be written.
    public var aclWrite: Bool { self.allows(.acl, .write) }
    /// Whether operator endpoints may be read.
    public var operatorRead: Bool { self.allows(.operator, .read) }
    /// Whether operator endpoints may change state.
    public var operatorWrite: Bool { self.allows(.operator, .write) }
    /// Whether mesh-wide configuration may be read (falls back to `operator`).
    public var meshRead: Bool { self.allows(.mesh, .read) }
    /// Whether mesh-wide configuration may be written (falls back to `operator`).
    public var meshWrite: Bool { self.allows(.mesh, .write) }
    /// Whether peerings may be read (falls back to `operator`).
    public var peeringRead: Bool { self.allows(.peering, .read) }
    /// Whether peerings may be written (falls back to `operator`).
    public var peeringWrite: Bool { self.allows(.peering, .write) }
    /// Whether the keyring may be read.
    public var keyringRead: Bool { self.allows(.keyring, .read) }
    /// Whether the keyring may be changed.
    public var keyringWrite: Bool { self.allows(.keyring, .write) }
}

/// One resource kind's rules, arranged for lookup: exact names in a dictionary, prefixes longest first.
private struct ACLRuleTable: Sendable {
    private let exact: [String: ACLAccess]
    private let prefixes: [(prefix: String, access: ACLAccess)]

    init(_ rules: ACLRuleSet) {
        self.exact = rules.exact.mapValues(\.policy)
        self.prefixes = rules.prefix.map { (prefix: $0.key, access: $0.value.policy) }
            .sorted { $0.prefix.utf8.count > $1.prefix.utf8.count }
    }

    /// The level governing `name`: exact rule, else longest matching prefix (byte-wise), else nil.
    func access(for name: String) -> ACLAccess? {
        if let access = self.exact[name] { return access }
        return self.prefixes.first { name.utf8.starts(with: $0.prefix.utf8) }?.access
    }
}
