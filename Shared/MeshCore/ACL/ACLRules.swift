/// The rules of one ACL policy (or several merged), as Consul's `acl.PolicyRules` holds them.
///
/// Parse a policy's `Rules` text (HCL or JSON) with `ACLRules.parse(_:)`; combine a token's policies
/// with `ACLRules.merged(_:)` or hand them all to `ACLAuthorizer`. Rules for the same name are
/// merged by Consul's precedence (deny, then write, then list, then read), whether they come from
/// one policy text or several.
public struct ACLRules: Sendable, Hashable {
    /// `service` / `service_prefix` rules (with their `intentions` levels).
    public var services: ACLRuleSet
    /// `node` / `node_prefix` rules.
    public var nodes: ACLRuleSet
    /// `agent` / `agent_prefix` rules, by node name.
    public var agents: ACLRuleSet
    /// `key` / `key_prefix` rules; the only ones that may be `list`.
    public var keys: ACLRuleSet
    /// `session` / `session_prefix` rules, by node name.
    public var sessions: ACLRuleSet
    /// `event` / `event_prefix` rules.
    public var events: ACLRuleSet
    /// `query` / `query_prefix` rules (prepared queries).
    public var queries: ACLRuleSet
    /// `acl = "…"`, nil when unset.
    public var acl: ACLAccess?
    /// `operator = "…"`, nil when unset.
    public var `operator`: ACLAccess?
    /// `mesh = "…"`, nil when unset (the authorizer then uses `operator`).
    public var mesh: ACLAccess?
    /// `peering = "…"`, nil when unset (the authorizer then uses `operator`).
    public var peering: ACLAccess?
    /// `keyring = "…"`, nil when unset.
    public var keyring: ACLAccess?

    /// No rules at all: what empty rules text means.
    public init() {
        self.services = ACLRuleSet()
        self.nodes = ACLRuleSet()
        self.agents = ACLRuleSet()
        self.keys = ACLRuleSet()
        self.sessions = ACLRuleSet()
        self.events = ACLRuleSet()
        self.queries = ACLRuleSet()
    }

    /// Whether no rule of any kind is set.
    public var isEmpty: Bool {
        self == ACLRules()
    }

    /// The rules for `resource`; for `.intention`, the rules derived from the service rules.
    public subscript(resource: ACLResource) -> ACLRuleSet {
        switch resource {
        case .service: self.services
        case .node: self.nodes
        case .agent: self.agents
        case .key: self.keys
        case .session: self.sessions
        case .event: self.events
        case .query: self.queries
        case .intention: self.intentions
        }
    }

    /// The level set for `singleton`, nil when unset; setting nil clears it.
    public subscript(singleton: ACLSingleton) -> ACLAccess? {
        get {
            switch singleton {
            case .operator: self.operator
            case .acl: self.acl
            case .mesh: self.mesh
            case .peering: self.peering
            case .keyring: self.keyring
            }
        }
        set {
            switch singleton {
            case .operator: self.operator = newValue
            case .acl: self.acl = newValue
            case .mesh: self.mesh = newValue
            case .peering: self.peering = newValue
            case .keyring: self.keyring = newValue
            }
        }
    }

    /// Intention rules, one per service rule, as Consul's policy authorizer derives them: the rule's
    /// `intentions` level when set, otherwise `read` when the service policy is read or write, and
    /// `deny` when it is deny.
    public var intentions: ACLRuleSet {
        self.services.mapRules { rule in
            ACLRule(policy: rule.intentions ?? (rule.policy == .deny ? .deny : .read))
        }
    }

    /// These rules and `other`'s together; the same name or singleton set in both is merged by
    /// precedence (deny wins).
    public func merging(_ other: ACLRules) -> ACLRules {
        var result = ACLRules()
        for resource in ACLResource.allCases {
            guard let path = Self.ruleSetPath(resource) else { continue }
            result[keyPath: path] = self[keyPath: path].merging(other[keyPath: path])
        }
        for singleton in ACLSingleton.allCases {
            result[singleton] = Self.merge(self[singleton], other[singleton])
        }
        return result
    }

    /// All of `rules` merged into one, as Consul merges a token's policies before authorizing.
    public static func merged(_ rules: [ACLRules]) -> ACLRules {
        rules.reduce(ACLRules()) { $0.merging($1) }
    }

    /// Where the rules of `resource` are stored; nil for the derived `.intention`.
    static func ruleSetPath(_ resource: ACLResource) -> WritableKeyPath<ACLRules, ACLRuleSet>? {
        switch resource {
        case .service: \.services
        case .node: \.nodes
        case .agent: \.agents
        case .key: \.keys
        case .session: \.sessions
        case .event: \.events
        case .query: \.queries
        case .intention: nil
        }
    }

    /// Two optional levels merged by precedence; a level beats no level.
    static func merge(_ lhs: ACLAccess?, _ rhs: ACLAccess?) -> ACLAccess? {
        guard let lhs else { return rhs }
        guard let rhs else { return lhs }
        return lhs.merged(with: rhs)
    }
}

/// Rules text that cannot be used: a syntax error, or a rule Consul would reject; with the 1-based
/// line and column of the offending token, key or value.
public struct ACLRulesError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based line of the offending token.
    public var line: Int
    /// 1-based column of the offending token.
    public var column: Int
    /// What was wrong, without the position (`invalid policy "reed" for service "web"`).
    public var message: String

    /// An error with `message` at `line`, `column`.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// An error with `message` at `position`.
    public init(_ message: String, at position: HCLPosition) {
        self.init(line: position.line, column: position.column, message: message)
    }

    /// The syntax error `error`, as a rules error.
    public init(_ error: HCLError) {
        self.init(line: error.line, column: error.column, message: error.message)
    }

    /// "line 2, column 14: invalid policy \"reed\" for service \"web\"".
    public var description: String { "line \(self.line), column \(self.column): \(self.message)" }
}
