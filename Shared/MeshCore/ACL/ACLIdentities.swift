/// The synthetic and builtin policies Consul grants without a stored policy: service identities,
/// node identities and the `global-management` policy.
public enum ACLIdentities {
    /// Consul's synthetic policy for a token's service identity `name`: write the service and its
    /// `<name>-sidecar-proxy`, read every service and every node (for discovery).
    public static func serviceIdentity(_ name: String) -> ACLRules {
        var rules = ACLRules()
        rules.services.add(ACLRule(policy: .write), for: name, isPrefix: false)
        rules.services.add(ACLRule(policy: .write), for: "\(name)-sidecar-proxy", isPrefix: false)
        rules.services.add(ACLRule(policy: .read), for: "", isPrefix: true)
        rules.nodes.add(ACLRule(policy: .read), for: "", isPrefix: true)
        return rules
    }

    /// Consul's synthetic policy for a token's node identity `name`: write the node, read every
    /// service.
    public static func nodeIdentity(_ name: String) -> ACLRules {
        var rules = ACLRules()
        rules.nodes.add(ACLRule(policy: .write), for: name, isPrefix: false)
        rules.services.add(ACLRule(policy: .read), for: "", isPrefix: true)
        return rules
    }

    /// The rules text of Consul's builtin `global-management` policy
    /// (ID `00000000-0000-0000-0000-000000000001`), as Consul stores and shows it.
    public static let globalManagementRulesText = """
        acl = "write"
        agent_prefix "" {
          policy = "write"
        }
        event_prefix "" {
          policy = "write"
        }
        key_prefix "" {
          policy = "write"
        }
        keyring = "write"
        node_prefix "" {
          policy = "write"
        }
        operator = "write"
        mesh = "write"
        peering = "write"
        query_prefix "" {
          policy = "write"
        }
        service_prefix "" {
          policy = "write"
          intentions = "write"
        }
        session_prefix "" {
          policy = "write"
        }
        """

    /// `globalManagementRulesText` as rules: write on everything, ACLs and intentions included.
    /// (Built directly rather than parsed, so it cannot fail; a test checks the two agree.)
    public static let globalManagement: ACLRules = {
        var rules = ACLRules()
        let write = ACLRule(policy: .write)
        rules.agents.add(write, for: "", isPrefix: true)
        rules.events.add(write, for: "", isPrefix: true)
        rules.keys.add(write, for: "", isPrefix: true)
        rules.nodes.add(write, for: "", isPrefix: true)
        rules.queries.add(write, for: "", isPrefix: true)
        rules.services.add(ACLRule(policy: .write, intentions: .write), for: "", isPrefix: true)
        rules.sessions.add(write, for: "", isPrefix: true)
        for singleton in ACLSingleton.allCases {
            rules[singleton] = .write
        }
        return rules
    }()
}
