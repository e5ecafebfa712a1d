/// One named rule (`service "web" { policy = "write" intentions = "read" }`).
public struct ACLRule: Sendable, Hashable {
    /// The access granted on the resource.
    public var policy: ACLAccess
    /// For service rules: access to intentions whose destination matches; nil means "implied by
    /// `policy`" (see `ACLRules.intentions`). Always nil for other resources.
    public var intentions: ACLAccess?

    /// A rule granting `policy`, with an explicit intentions level for service rules.
    public init(policy: ACLAccess, intentions: ACLAccess? = nil) {
        self.policy = policy
        self.intentions = intentions
    }

    /// This rule combined with another for the same name, by Consul's precedence (deny wins).
    public func merged(with other: ACLRule) -> ACLRule {
        let intentions: ACLAccess? =
            switch (self.intentions, other.intentions) {
            case (let mine?, let theirs?): mine.merged(with: theirs)
            case (let mine?, nil): mine
            case (nil, let theirs): theirs
            }
        return ACLRule(policy: self.policy.merged(with: other.policy), intentions: intentions)
    }
}

/// The exact-name and name-prefix rules for one kind of resource (`service` and `service_prefix`).
public struct ACLRuleSet: Sendable, Hashable {
    /// Rules by exact name (`service "web"`).
    public var exact: [String: ACLRule]
    /// Rules by name prefix (`service_prefix "web-"`); the empty prefix matches every name.
    public var prefix: [String: ACLRule]

    /// A rule set holding `exact` and `prefix` rules.
    public init(exact: [String: ACLRule] = [:], prefix: [String: ACLRule] = [:]) {
        self.exact = exact
        self.prefix = prefix
    }

    /// Whether there are no rules at all.
    public var isEmpty: Bool { self.exact.isEmpty && self.prefix.isEmpty }

    /// Adds a rule, merging by precedence with a rule already there for the same name and form.
    public mutating func add(_ rule: ACLRule, for name: String, isPrefix: Bool) {
        if isPrefix {
            self.prefix[name] = self.prefix[name].map { $0.merged(with: rule) } ?? rule
        } else {
            self.exact[name] = self.exact[name].map { $0.merged(with: rule) } ?? rule
        }
    }

    /// Both sets' rules; where both name the same thing, merged by precedence (deny wins).
    public func merging(_ other: ACLRuleSet) -> ACLRuleSet {
        ACLRuleSet(
            exact: self.exact.merging(other.exact) { $0.merged(with: $1) },
            prefix: self.prefix.merging(other.prefix) { $0.merged(with: $1) }
        )
    }

    /// The rule that governs `name`: its exact rule, else the longest prefix rule matching it
    /// (compared byte-wise, as Consul's radix tree does), else nil.
    public func rule(for name: String) -> ACLRule? {
        if let rule = self.exact[name] { return rule }
        var best: (length: Int, rule: ACLRule)?
        for (prefix, rule) in self.prefix where name.utf8.starts(with: prefix.utf8) {
            let length = prefix.utf8.count
            if length >= best?.length ?? 0 { best = (length, rule) }
        }
        return best?.rule
    }

    /// Each rule with `transform` applied, keeping names and forms.
    func mapRules(_ transform: (ACLRule) -> ACLRule) -> ACLRuleSet {
        ACLRuleSet(exact: self.exact.mapValues(transform), prefix: self.prefix.mapValues(transform))
    }
}
