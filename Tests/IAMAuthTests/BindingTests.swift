import MeshCore
import Testing

@testable import IAMAuth

@Suite("binding rules: selectors, bind names, grants")
struct BindingTests {
    let fields = AWSIAMMethodConfig.selectorFields
    let values: [String: BindingSelector.Value] = [
        "entity_name": .string("web"),
        "entity_id": .string("AROA123"),
        "account_id": .string("123456789012"),
        "entity_path": .string("/consul-ecs/"),
        "entity_tags": .map(["consul.hashicorp.com.service-name": "web", "team": "payments"]),
    ]

    func matches(_ text: String) throws -> Bool {
        try BindingSelector(text, fields: self.fields).matches(self.values)
    }

    @Test("go-bexpr operators, precedence and both selector forms")
    func selectors() throws {
        #expect(try self.matches(#"entity_name == "web""#))
        #expect(try self.matches(#"entity_name==web"#))
        #expect(try !self.matches(#"entity_name != web"#))
        #expect(try self.matches(#"entity_tags["consul.hashicorp.com.service-name"] == "web""#))
        #expect(try self.matches(#"entity_tags.team == payments"#))
        #expect(try self.matches(#""team" in entity_tags"#))
        #expect(try self.matches(#""owner" not in entity_tags"#))
        #expect(try self.matches(#"entity_path contains "ecs""#))
        #expect(try self.matches(#"entity_path matches "^/consul-ecs/$""#))
        #expect(try !self.matches(#"entity_path not matches `^/consul`"#))
        #expect(try self.matches(#"entity_tags is not empty"#))
        // A missing map key: == is false, != is true.
        #expect(try !self.matches(#"entity_tags.owner == x"#))
        #expect(try self.matches(#"entity_tags.owner != x"#))
        // `and` binds tighter than `or`; `not` and parentheses.
        #expect(try self.matches(#"entity_name == api or entity_name == web and account_id == "123456789012""#))
        #expect(try !self.matches(#"(entity_name == api or entity_name == web) and account_id == "1""#))
        #expect(try self.matches(#"not entity_name == api"#))
    }

    @Test("a malformed selector is refused with where it went wrong")
    func selectorErrors() {
        #expect(throws: BindingSelector.ParseError.self) { try BindingSelector("nonsense == x", fields: self.fields) }
        #expect(throws: BindingSelector.ParseError.self) { try BindingSelector("entity_name ==", fields: self.fields) }
        #expect(throws: BindingSelector.ParseError.self) {
            try BindingSelector(#"entity_name == "web"#, fields: self.fields)
        }
        #expect(throws: BindingSelector.ParseError.self) {
            try BindingSelector("(entity_name == web", fields: self.fields)
        }
        #expect(throws: BindingSelector.ParseError.self) {
            try BindingSelector(#"entity_name matches "(""#, fields: self.fields)
        }
        #expect(throws: BindingSelector.ParseError.self) {
            try BindingSelector("entity_name.x == y", fields: self.fields)
        }
    }

    @Test("bind names: variables interpolated, unknown ones refused")
    func templates() throws {
        let variables: Set = ["entity_name", "entity_tags.consul.hashicorp.com.service-name"]
        let template = try BindNameTemplate("${entity_tags.consul.hashicorp.com.service-name}", variables: variables)
        #expect(template.render(["entity_tags.consul.hashicorp.com.service-name": "web"]) == "web")
        #expect(
            try BindNameTemplate("svc-${entity_name}-x", variables: variables).render(["entity_name": "a"]) == "svc-a-x"
        )
        #expect(try !BindNameTemplate("plain", variables: variables).isTemplated)
        #expect(throws: BindNameTemplate.ParseError.self) { try BindNameTemplate("${account}", variables: variables) }
        #expect(throws: BindNameTemplate.ParseError.self) {
            try BindNameTemplate("${entity_name", variables: variables)
        }
    }

    @Test("a grant: matching rules contribute; variable values are lowercased; a bad name refuses the login")
    func grants() throws {
        var config = AWSIAMMethodConfig()
        config.boundIAMPrincipalARNs = ["arn:aws:iam::123456789012:role/consul-ecs/*"]
        config.enableIAMEntityDetails = true
        config.iamEntityTags = ["consul.hashicorp.com.service-name"]
        func rule(_ type: BindingRule.BindType, _ name: String, selector: String = "") -> BindingRule {
            BindingRule(
                id: "r-\(name)",
                description: "",
                authMethod: "m",
                selector: selector,
                bindType: type,
                bindName: name,
                createIndex: 1,
                modifyIndex: 1
            )
        }
        let identity = IAMLoginIdentity(
            entityName: "Web-Role",
            entityID: "AROA1",
            accountID: "123456789012",
            entityPath: "/consul-ecs/",
            entityTags: ["consul.hashicorp.com.service-name": "Web", "ignored": "x"],
            arn: "arn:aws:iam::123456789012:role/consul-ecs/Web-Role"
        )
        let grant = try LoginGrant.bind(
            [
                rule(.service, "${entity_tags.consul.hashicorp.com.service-name}"),
                rule(.role, "readers", selector: #"entity_path == "/consul-ecs/""#),
                rule(.policy, "never", selector: #"entity_path == "/other/""#),
                rule(.node, "n-${entity_id}"),
                rule(.service, "x", selector: "this does not parse"),
            ],
            selectable: identity.selectable(config),
            variables: identity.variables(config),
            bindVariables: config.bindVariables
        )
        #expect(grant.serviceIdentities == ["web"])
        #expect(grant.roles == ["readers"])
        #expect(grant.policies.isEmpty)
        #expect(grant.nodeIdentities == ["n-aroa1"])
        // Tags not listed in IAMEntityTags are not offered to selectors.
        #expect(identity.selectable(config)["entity_tags"] == .map(["consul.hashicorp.com.service-name": "Web"]))

        #expect(throws: LoginRefusal.self) {
            try LoginGrant.bind(
                [rule(.service, "Svc-${entity_name}")],
                selectable: identity.selectable(config),
                variables: identity.variables(config),
                bindVariables: config.bindVariables
            )
        }
    }

    @Test("aws-iam config: Consul's checks and messages")
    func config() throws {
        func check(_ object: [String: JSONValue]) -> String? {
            do {
                _ = try AWSIAMMethodConfig(.object(object))
                return nil
            } catch {
                return error.reason
            }
        }
        let role: JSONValue = .array([.string("arn:aws:iam::123456789012:role/web")])
        let wildcard: JSONValue = .array([.string("arn:aws:iam::123456789012:role/consul-ecs/*")])
        #expect(check(["BoundIAMPrincipalARNs": role]) == nil)
        #expect(check([:])?.contains("at least 1 entry") == true)
        #expect(check(["BoundIAMPrincipalARNs": wildcard])?.contains("EnableIAMEntityDetails=true") == true)
        #expect(check(["BoundIAMPrincipalARNs": wildcard, "EnableIAMEntityDetails": .bool(true)]) == nil)
        #expect(
            check([
                "BoundIAMPrincipalARNs": .array([.string("arn:aws:iam::1:role/*/x*")]),
                "EnableIAMEntityDetails": .bool(true),
            ])?.contains("Only one wildcard") == true
        )
        #expect(
            check(["BoundIAMPrincipalARNs": .array([.string("not-an-arn")])])?.contains("Invalid principal ARN") == true
        )
        #expect(check(["BoundIAMPrincipalARNs": role, "IAMEntityTags": .array([.string("a")])]) != nil)
        #expect(check(["BoundIAMPrincipalARNs": role, "Surprise": .bool(true)]) == "unknown configuration key")
        #expect(check(["BoundIAMPrincipalARNs": role, "STSEndpoint": .string("not a url")]) != nil)

        var config = AWSIAMMethodConfig()
        config.boundIAMPrincipalARNs = ["arn:aws:iam::1:role/consul-ecs/*", "arn:aws:iam::1:role/exact"]
        #expect(config.isBound("arn:aws:iam::1:role/exact"))
        // Wildcards count only with entity details (the full ARN with its path is known only then).
        #expect(!config.isBound("arn:aws:iam::1:role/consul-ecs/web"))
        config.enableIAMEntityDetails = true
        #expect(config.isBound("arn:aws:iam::1:role/consul-ecs/web"))
        #expect(!config.isBound("arn:aws:iam::1:role/other/web"))
    }

    @Test("login meta round-trips through the token description the controller reads")
    func loginMeta() {
        let meta = [
            "consul.hashicorp.com/task-id": "abc", "consul.hashicorp.com/cluster": "arn:aws:ecs:r:1:cluster/mesh",
        ]
        let description = LoginService.description(meta: meta)
        #expect(description.hasPrefix("token created via login: {\"consul.hashicorp.com/cluster\""))
        #expect(ACLController.meta(fromDescription: description) == meta)
        #expect(LoginService.description(meta: [:]) == "token created via login")
        #expect(ACLController.meta(fromDescription: "made by hand") == nil)
        #expect(ACLController.sameCluster("arn:aws:ecs:r:1:cluster/mesh", "mesh"))
        #expect(!ACLController.sameCluster("arn:aws:ecs:r:1:cluster/other", "mesh"))
        #expect(ACLController.taskID("arn:aws:ecs:r:1:task/mesh/0123") == "0123")
    }
}
