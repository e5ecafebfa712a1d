import Foundation
import MeshCore

/// An ACL auth method (Consul's `ACLAuthMethod`). Only `aws-iam` is implemented.
struct AuthMethod: Sendable, Equatable {
    var name: String
    var type: String
    var displayName: String
    var description: String
    /// The life of the tokens it makes; nil: they never expire.
    var maxTokenTTL: Duration?
    /// `local` or `global` (`""` shows as Consul's default, local).
    var tokenLocality: String
    var config: AWSIAMMethodConfig
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex

    static let supportedTypes = ["aws-iam"]

    /// Consul's JSON; the list leaves `Config` out, as Consul's stub does.
    func json(stub: Bool = false) -> JSONValue {
        var object: [String: JSONValue] = [
            "Name": .string(self.name),
            "Type": .string(self.type),
            "CreateIndex": .number(Double(self.createIndex)),
            "ModifyIndex": .number(Double(self.modifyIndex)),
        ]
        if !self.displayName.isEmpty { object["DisplayName"] = .string(self.displayName) }
        if !self.description.isEmpty { object["Description"] = .string(self.description) }
        if let ttl = self.maxTokenTTL { object["MaxTokenTTL"] = .string(GoDuration.format(ttl)) }
        if !self.tokenLocality.isEmpty { object["TokenLocality"] = .string(self.tokenLocality) }
        if !stub { object["Config"] = self.config.json }
        return .object(object)
    }
}

/// A binding rule (Consul's `ACLBindingRule`): which logins of a method get which identity.
struct BindingRule: Sendable, Equatable {
    enum BindType: String, Sendable, CaseIterable {
        case service, node, role, policy
    }

    var id: String
    var description: String
    var authMethod: String
    var selector: String
    var bindType: BindType
    var bindName: String
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex

    var json: JSONValue {
        .object([
            "ID": .string(self.id),
            "Description": .string(self.description),
            "AuthMethod": .string(self.authMethod),
            "Selector": .string(self.selector),
            "BindType": .string(self.bindType.rawValue),
            "BindName": .string(self.bindName),
            "CreateIndex": .number(Double(self.createIndex)),
            "ModifyIndex": .number(Double(self.modifyIndex)),
        ])
    }
}

/// What a login is granted after its method's binding rules ran.
struct LoginGrant: Sendable, Equatable {
    var serviceIdentities: [String] = []
    var nodeIdentities: [String] = []
    var roles: [String] = []
    var policies: [String] = []

    var isEmpty: Bool {
        self.serviceIdentities.isEmpty && self.nodeIdentities.isEmpty && self.roles.isEmpty && self.policies.isEmpty
    }

    /// Applies `rules` to a verified identity (agent/consul/auth/binder.go): every rule whose
    /// selector matches contributes its rendered name. A rendered name that is not a valid name
    /// for its kind refuses the login rather than granting something unintended.
    static func bind(
        _ rules: [BindingRule],
        selectable: [String: BindingSelector.Value],
        variables: [String: String],
        bindVariables: Set<String>
    ) throws(LoginRefusal) -> LoginGrant {
        var grant = LoginGrant()
        for rule in rules {
            // A selector that does not compile counts as no match (binder.go `doesSelectorMatch`).
            if !rule.selector.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let selector = try? BindingSelector(rule.selector, fields: AWSIAMMethodConfig.selectorFields),
                    selector.matches(selectable)
                else {
                    continue
                }
            }
            guard let template = try? BindNameTemplate(rule.bindName, variables: bindVariables) else {
                throw LoginRefusal("binding rule \(rule.id) has an invalid bind name")
            }
            // Only the variables' values are lowercased, as Consul does; literal text keeps its case.
            let name = template.render(variables.mapValues { $0.lowercased() })
            guard Self.isValid(name, for: rule.bindType) else {
                throw LoginRefusal("invalid bind name: \"\(name)\" (binding rule \(rule.id))")
            }
            switch rule.bindType {
            case .service:
                if !grant.serviceIdentities.contains(name) { grant.serviceIdentities.append(name) }
            case .node:
                if !grant.nodeIdentities.contains(name) { grant.nodeIdentities.append(name) }
            case .role:
                if !grant.roles.contains(name) { grant.roles.append(name) }
            case .policy:
                if !grant.policies.contains(name) { grant.policies.append(name) }
            }
        }
        return grant
    }

    /// Whether a computed name is valid for its kind (acl/validation.go): service and node
    /// identities `^[a-z0-9]([a-z0-9-_]*[a-z0-9])?$`; roles (and, at login, policies) `^[A-Za-z0-9-_]{1,256}$`.
    static func isValid(_ name: String, for type: BindingRule.BindType) -> Bool {
        switch type {
        case .service, .node: Self.isValidIdentityName(name)
        case .role, .policy:
            !name.isEmpty && name.count <= 256
                && name.unicodeScalars.allSatisfy {
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_")
                }
        }
    }

    /// Consul's service and node identity names (acl/validation.go): lowercase letters, digits,
    /// dashes and underscores, starting and ending with a letter or digit, at most 256 characters.
    static func isValidIdentityName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 256 else { return false }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
        }
        guard allowed, let first = name.unicodeScalars.first, let last = name.unicodeScalars.last else { return false }
        return first != "-" && first != "_" && last != "-" && last != "_"
    }
}
