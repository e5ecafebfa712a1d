import MeshCore
import Testing

@Suite("ACL authorizer")
struct ACLAuthorizerTests {
    private func authorizer(_ texts: String..., default defaultPolicy: ACLDefault = .deny) throws -> ACLAuthorizer {
        ACLAuthorizer(rules: try texts.map { try ACLRules.parse($0) }, default: defaultPolicy)
    }

    @Test("an exact rule beats a prefix rule")
    func exactBeatsPrefix() throws {
        let authz = try self.authorizer(
            """
            service_prefix "" { policy = "write" }
            service "db" { policy = "read" }
            service "vault" { policy = "deny" }
            """
        )
        #expect(authz.serviceWrite("web"))
        #expect(authz.serviceRead("db"))
        #expect(!authz.serviceWrite("db"))
        #expect(!authz.serviceRead("vault"))
        #expect(authz.serviceWrite("db2"), "an exact rule covers only its own name")
    }

    @Test(
        "the longest matching prefix wins",
        arguments: [
            ("other", true, false), ("app/", true, true), ("app/config", true, true),
            ("app/secret/", false, false), ("app/secret/key", false, false), ("app/secretive", true, true),
        ]
    )
    func longestPrefix(key: String, read: Bool, write: Bool) throws {
        let authz = try self.authorizer(
            """
            key_prefix "" { policy = "read" }
            key_prefix "app/" { policy = "write" }
            key_prefix "app/secret/" { policy = "deny" }
            """
        )
        #expect(authz.keyRead(key) == read)
        #expect(authz.keyWrite(key) == write)
    }

    @Test("deny wins when two policies set the same name; otherwise the stronger level")
    func mergeDenyWins() throws {
        let authz = try self.authorizer(
            """
            service "web" { policy = "write" }
            node "n1" { policy = "read" }
            operator = "read"
            acl = "write"
            """,
            """
            service "web" { policy = "deny" }
            node "n1" { policy = "write" }
            operator = "write"
            acl = "deny"
            """,
            default: .allow
        )
        #expect(!authz.serviceRead("web"))
        #expect(!authz.serviceWrite("web"))
        #expect(authz.nodeWrite("n1"))
        #expect(authz.operatorWrite)
        #expect(!authz.aclRead)
    }

    @Test("with no matching rule, default allow allows and default deny denies")
    func defaults() throws {
        let allow = try self.authorizer(#"service "web" { policy = "read" }"#, default: .allow)
        let deny = try self.authorizer(#"service "web" { policy = "read" }"#, default: .deny)
        for (authz, expected) in [(allow, true), (deny, false)] {
            #expect(authz.serviceWrite("api") == expected)
            #expect(authz.nodeWrite("n1") == expected)
            #expect(authz.keyWrite("any/key") == expected)
            #expect(authz.keyList("any/") == expected)
            #expect(authz.agentWrite("n1") == expected)
            #expect(authz.sessionWrite("n1") == expected)
            #expect(authz.eventWrite("e") == expected)
            #expect(authz.queryWrite("q") == expected)
            #expect(authz.intentionWrite("api") == expected)
            #expect(authz.operatorWrite == expected)
            #expect(authz.meshWrite == expected)
            #expect(authz.peeringWrite == expected)
            #expect(authz.keyringWrite == expected)
            #expect(authz.serviceRead("web"))
            #expect(!authz.serviceWrite("web"), "a matching rule decides even under default allow")
        }
    }

    @Test("ACL access is denied under default allow unless a rule grants it")
    func aclNeedsARule() throws {
        let open = try self.authorizer(default: .allow)
        #expect(!open.aclRead)
        #expect(!open.aclWrite)
        let reader = try self.authorizer(#"acl = "read""#, default: .allow)
        #expect(reader.aclRead)
        #expect(!reader.aclWrite)
        let writer = try self.authorizer(#"acl = "write""#, default: .deny)
        #expect(writer.aclRead)
        #expect(writer.aclWrite)
    }

    @Test("service policy implies intentions read; deny implies deny; intentions overrides")
    func intentions() throws {
        let authz = try self.authorizer(
            """
            service "web" { policy = "write" }
            service "api" { policy = "read" }
            service "db" { policy = "deny" }
            service_prefix "ops-" {
              policy = "read"
              intentions = "write"
            }
            service "ops-secret" {
              policy = "write"
              intentions = "deny"
            }
            """,
            default: .allow
        )
        #expect(authz.intentionRead("web"))
        #expect(!authz.intentionWrite("web"))
        #expect(authz.intentionRead("api"))
        #expect(!authz.intentionWrite("api"))
        #expect(!authz.intentionRead("db"))
        #expect(authz.intentionWrite("ops-tools"))
        #expect(!authz.intentionRead("ops-secret"))
        #expect(authz.serviceWrite("ops-secret"))
        #expect(authz.intentionWrite("unruled"), "no rule: the default (allow) applies")
    }

    @Test("mesh and peering fall back to operator when unset")
    func meshFallsBackToOperator() throws {
        let reader = try self.authorizer(#"operator = "read""#)
        #expect(reader.meshRead)
        #expect(!reader.meshWrite)
        #expect(reader.peeringRead)
        #expect(!reader.peeringWrite)
        let explicit = try self.authorizer("operator = \"write\"\nmesh = \"read\"")
        #expect(explicit.meshRead)
        #expect(!explicit.meshWrite)
        #expect(explicit.peeringWrite)
        let denied = try self.authorizer(#"operator = "deny""#, default: .allow)
        #expect(!denied.meshRead)
        #expect(!denied.peeringRead)
        #expect(!denied.operatorRead)
        #expect(denied.keyringWrite, "keyring does not fall back to operator")
        let meshOnly = try self.authorizer(#"mesh = "write""#)
        #expect(meshOnly.meshWrite)
        #expect(!meshOnly.operatorRead)
    }

    @Test("list grants list and read on keys, not write")
    func keyList() throws {
        let authz = try self.authorizer(#"key_prefix "logs/" { policy = "list" }"#)
        #expect(authz.keyList("logs/"))
        #expect(authz.keyRead("logs/today"))
        #expect(!authz.keyWrite("logs/today"))
        #expect(!authz.keyList("other/"))
        let reader = try self.authorizer(#"key_prefix "" { policy = "read" }"#)
        #expect(reader.keyRead("x"))
        #expect(!reader.keyList("x"))
    }

    @Test("a service identity writes its service and sidecar, reads the rest, writes nothing else")
    func serviceIdentity() {
        let authz = ACLAuthorizer(rules: [ACLIdentities.serviceIdentity("web")], default: .deny)
        #expect(authz.serviceWrite("web"))
        #expect(authz.serviceWrite("web-sidecar-proxy"))
        #expect(!authz.serviceWrite("db"))
        #expect(!authz.serviceWrite("web2"))
        #expect(authz.serviceRead("db"))
        #expect(authz.nodeRead("node-1"))
        #expect(!authz.nodeWrite("node-1"))
        #expect(authz.intentionRead("web"))
        #expect(!authz.intentionWrite("web"))
        #expect(!authz.keyRead("k"))
        #expect(!authz.aclRead)
        #expect(!authz.operatorRead)
    }

    @Test("a node identity writes its node and reads services")
    func nodeIdentity() {
        let authz = ACLAuthorizer(rules: [ACLIdentities.nodeIdentity("node-1")], default: .deny)
        #expect(authz.nodeWrite("node-1"))
        #expect(!authz.nodeWrite("node-2"))
        #expect(!authz.nodeRead("node-2"))
        #expect(authz.serviceRead("anything"))
        #expect(!authz.serviceWrite("anything"))
    }

    @Test("identities merge with policies")
    func identitiesMerge() throws {
        let denyWeb = try ACLRules.parse(#"service "web" { policy = "deny" }"#)
        let authz = ACLAuthorizer(rules: [ACLIdentities.serviceIdentity("web"), denyWeb], default: .deny)
        #expect(!authz.serviceWrite("web"))
        #expect(authz.serviceWrite("web-sidecar-proxy"))
    }

    @Test("management allows everything", arguments: ACLResource.allCases)
    func management(resource: ACLResource) {
        let authz = ACLAuthorizer.management
        #expect(authz.isManagement)
        for access in [ACLAccess.read, .list, .write] {
            #expect(authz.allows(resource, "anything", access))
            #expect(authz.allows(resource, "", access))
        }
        for singleton in ACLSingleton.allCases {
            #expect(authz.allows(singleton, .read))
            #expect(authz.allows(singleton, .write))
        }
    }

    @Test("the global-management policy allows everything even under default deny", arguments: ACLResource.allCases)
    func globalManagementPolicy(resource: ACLResource) {
        let authz = ACLAuthorizer(rules: [ACLIdentities.globalManagement], default: .deny)
        #expect(authz.allows(resource, "anything", .write))
        #expect(authz.allows(resource, "anything", .list))
        for singleton in ACLSingleton.allCases {
            #expect(authz.allows(singleton, .write))
        }
    }

    @Test("asking for deny is never allowed")
    func askingForDeny() {
        #expect(!ACLAuthorizer.management.allows(.service, "web", .deny))
        #expect(!ACLAuthorizer(rules: [], default: .allow).allows(.operator, .deny))
    }

    @Test("access levels grant as Consul's enforce does")
    func grants() {
        #expect(ACLAccess.write.grants(.read) && ACLAccess.write.grants(.list) && ACLAccess.write.grants(.write))
        #expect(ACLAccess.list.grants(.read) && ACLAccess.list.grants(.list) && !ACLAccess.list.grants(.write))
        #expect(ACLAccess.read.grants(.read) && !ACLAccess.read.grants(.list) && !ACLAccess.read.grants(.write))
        #expect(!ACLAccess.deny.grants(.read))
        #expect(ACLAccess.read.merged(with: .list) == .list)
        #expect(ACLAccess.write.merged(with: .deny) == .deny)
    }
}
