import Foundation
import HTTPTypes
import MeshCore
import MeshRPC

/// Request bodies of the auth-method and binding-rule endpoints, read and checked with Consul's
/// rules and messages (agent/consul/acl_endpoint.go). Consul answers most of these with 500; we
/// answer 400, since they are the caller's mistakes, and keep Consul's wording.
enum IAMAuthInput {
    static let methodKeys: Set<String> = [
        "name", "type", "displayname", "description", "maxtokenttl", "tokenlocality", "config", "createindex",
        "modifyindex",
    ]
    static let ruleKeys: Set<String> = [
        "id", "description", "authmethod", "selector", "bindtype", "bindname", "bindvars", "createindex",
        "modifyindex",
    ]

    /// Rejects keys Consul's decoder does not know (`DisallowUnknownFields`).
    static func requireKnownKeys(_ object: LenientObject, _ known: Set<String>, prefix: String) throws {
        if let unknown = object.keys.subtracting(known).sorted().first {
            throw ConsulHTTPError(.badRequest, "\(prefix) decoding failed: json: unknown field \"\(unknown)\"")
        }
    }

    static func invalid(_ message: String) -> ConsulHTTPError {
        ConsulHTTPError(.badRequest, message)
    }

    /// An auth method from a PUT body; `pathName` is the name in the URL (update), if any.
    static func method(_ object: LenientObject, pathName: String?, existing: AuthMethod?) throws -> AuthMethod {
        try self.requireKnownKeys(object, self.methodKeys, prefix: "AuthMethod")
        let fields: (String, String, String, String, Duration?, String, JSONValue?)
        do {
            fields = (
                try object.string("Name") ?? "", try object.string("Type") ?? "",
                try object.string("DisplayName") ?? "", try object.string("Description") ?? "",
                try object.duration("MaxTokenTTL"), try object.string("TokenLocality") ?? "", object.raw("Config")
            )
        } catch {
            throw ConsulHTTPError(.badRequest, "AuthMethod decoding failed: \(error.field): \(error.reason)")
        }
        var name = fields.0
        if let pathName {
            if !name.isEmpty && name != pathName {
                throw ConsulHTTPError(.badRequest, "AuthMethod Name in URL and payload do not match")
            }
            name = pathName
        }
        guard !name.isEmpty else { throw Self.invalid("Invalid Auth Method: no Name is set") }
        guard name.count <= 128,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw Self.invalid(
                "Invalid Auth Method: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"
            )
        }
        var type = fields.1
        if let existing {
            if type.isEmpty { type = existing.type }
            guard type == existing.type else { throw Self.invalid("the Type field of an Auth Method is immutable") }
        }
        guard AuthMethod.supportedTypes.contains(type) else {
            throw Self.invalid(
                "Invalid Auth Method: Type should be one of: [\(AuthMethod.supportedTypes.joined(separator: " "))]"
            )
        }
        if let ttl = fields.4, ttl != .zero, ttl < .seconds(60) {
            throw Self.invalid("MaxTokenTTL \(GoDuration.format(ttl)) cannot be less than 1m0s")
        }
        guard ["", "local", "global"].contains(fields.5) else {
            throw Self.invalid("Invalid Auth Method: TokenLocality should be one of 'local' or 'global'")
        }
        let config: AWSIAMMethodConfig
        do {
            config = try AWSIAMMethodConfig(fields.6 ?? .object([:]))
        } catch {
            throw Self.invalid("Invalid Auth Method: \(error.field): \(error.reason)")
        }
        return AuthMethod(
            name: existing?.name ?? name,
            type: type,
            displayName: fields.2,
            description: fields.3,
            maxTokenTTL: fields.4 == .zero ? nil : fields.4,
            tokenLocality: fields.5,
            config: config,
            createIndex: 0,
            modifyIndex: 0
        )
    }

    /// A binding rule from a PUT body, checked against its method; `pathID` is the ID in the URL (update).
    static func rule(
        _ object: LenientObject,
        pathID: String?,
        existing: BindingRule?,
        method lookup: (String) async throws -> AuthMethod?
    ) async throws -> BindingRule {
        try self.requireKnownKeys(object, self.ruleKeys, prefix: "BindingRule")
        let fields: (String, String, String, String, String, String)
        do {
            fields = (
                try object.string("ID") ?? "", try object.string("Description") ?? "",
                try object.string("AuthMethod") ?? "", try object.string("Selector") ?? "",
                try object.string("BindType") ?? "", try object.string("BindName") ?? ""
            )
        } catch {
            throw ConsulHTTPError(.badRequest, "BindingRule decoding failed: \(error.field): \(error.reason)")
        }
        if !fields.0.isEmpty && fields.0 != (pathID ?? "") {
            throw ConsulHTTPError(.badRequest, "BindingRule ID in URL and payload do not match")
        }
        var methodName = fields.2
        if let existing {
            if methodName.isEmpty { methodName = existing.authMethod }
            guard methodName.lowercased() == existing.authMethod.lowercased() else {
                throw Self.invalid("the AuthMethod field of an Binding Rule is immutable")
            }
        }
        guard !methodName.isEmpty else { throw Self.invalid("Invalid Binding Rule: no AuthMethod is set") }
        guard let method = try await lookup(methodName) else {
            throw Self.invalid("cannot find auth method with name \"\(methodName)\"")
        }
        let selector = fields.3
        if !selector.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                _ = try BindingSelector(selector, fields: AWSIAMMethodConfig.selectorFields)
            } catch {
                throw Self.invalid("invalid Binding Rule: Selector is invalid: \(error)")
            }
        }
        guard !fields.4.isEmpty else { throw Self.invalid("Invalid Binding Rule: no BindType is set") }
        guard !fields.5.isEmpty else { throw Self.invalid("Invalid Binding Rule: no BindName is set") }
        if object.raw("BindVars") != nil {
            throw Self.invalid("invalid Binding Rule: BindVars cannot be set when bind type is not templated-policy.")
        }
        let prefix = "Invalid Binding Rule: invalid BindName or BindVars: "
        guard let bindType = BindingRule.BindType(rawValue: fields.4) else {
            throw Self.invalid(prefix + "invalid Binding Rule: unknown BindType \"\(fields.4)\"")
        }
        // As Consul: every variable set to "fake", the result checked as the kind of name it must be.
        let variables = method.config.bindVariables
        let template: BindNameTemplate
        do {
            template = try BindNameTemplate(fields.5, variables: variables)
        } catch {
            throw Self.invalid(
                prefix + "failed to validate bindType \"\(fields.4)\": error interpreting template: \(error)"
            )
        }
        let sample = template.render(Dictionary(uniqueKeysWithValues: variables.map { ($0, "fake") }))
        guard LoginGrant.isValid(sample, for: bindType) else {
            throw Self.invalid(prefix + "failed to validate bindType \"\(fields.4)\": invalid bind name: \"\(sample)\"")
        }
        return BindingRule(
            id: existing?.id ?? UUID().uuidString.lowercased(),
            description: fields.1,
            authMethod: method.name,
            selector: selector,
            bindType: bindType,
            bindName: fields.5,
            createIndex: 0,
            modifyIndex: 0
        )
    }

    /// Whether `id` has the shape of a UUID (Consul's binding rule IDs).
    static func isUUID(_ id: String) -> Bool {
        UUID(uuidString: id) != nil
    }
}
