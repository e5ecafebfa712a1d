import Foundation
import MeshCore
import MeshRPC

/// An `aws-iam` auth method's `Config`, with Consul's keys and checks
/// (agent/consul/authmethod/awsauth/aws.go, internal/iamauth/config.go).
struct AWSIAMMethodConfig: Sendable, Equatable {
    /// Principals allowed to log in: exact ARNs, or (with entity details) ending in one `*`.
    var boundIAMPrincipalARNs: [String] = []
    /// Replay the signed `GetRole`/`GetUser` too, for the path, the tags and wildcard matching.
    var enableIAMEntityDetails = false
    /// The tags offered to binding rules as `entity_tags.<tag>`.
    var iamEntityTags: [String] = []
    /// A value the client must sign into `X-Consul-IAM-ServerID` (stops replay against another cluster).
    var serverIDHeaderValue = ""
    /// Retries of AWS calls on transport errors and 5xx answers.
    var maxRetries = 0
    /// Where `GetRole`/`GetUser` is sent; the token's URL must name this host.
    var iamEndpoint = ""
    /// Where `GetCallerIdentity` is sent; the token's URL must name this host.
    var stsEndpoint = ""
    var stsRegion = ""
    /// `X-Amz-*` headers allowed in the token beyond the ones SigV4 needs.
    var allowedSTSHeaderValues: [String] = []

    static let keys = [
        "BoundIAMPrincipalARNs", "EnableIAMEntityDetails", "IAMEntityTags", "ServerIDHeaderValue", "MaxRetries",
        "IAMEndpoint", "STSEndpoint", "STSRegion", "AllowedSTSHeaderValues",
    ]

    /// Reads and checks `Config` (field paths in errors start with `Config.`).
    init(_ value: JSONValue) throws(ValidationError) {
        let object = try LenientObject(value, path: "Config")
        let known = Set(Self.keys.map { $0.lowercased() })
        if let unknown = object.keys.subtracting(known).sorted().first {
            throw ValidationError(field: "Config.\(unknown)", reason: "unknown configuration key")
        }
        self.boundIAMPrincipalARNs = try object.stringArray("BoundIAMPrincipalARNs") ?? []
        self.enableIAMEntityDetails = try object.bool("EnableIAMEntityDetails") ?? false
        self.iamEntityTags = try object.stringArray("IAMEntityTags") ?? []
        self.serverIDHeaderValue = try object.string("ServerIDHeaderValue") ?? ""
        self.maxRetries = try object.int("MaxRetries") ?? 0
        self.iamEndpoint = try object.string("IAMEndpoint") ?? ""
        self.stsEndpoint = try object.string("STSEndpoint") ?? ""
        self.stsRegion = try object.string("STSRegion") ?? ""
        self.allowedSTSHeaderValues = try object.stringArray("AllowedSTSHeaderValues") ?? []
        try self.validate()
    }

    init() {}

    func validate() throws(ValidationError) {
        guard !self.boundIAMPrincipalARNs.isEmpty else {
            throw ValidationError(
                field: "Config.BoundIAMPrincipalARNs",
                reason: "BoundIAMPrincipalARNs is required and must have at least 1 entry"
            )
        }
        for arn in self.boundIAMPrincipalARNs {
            let stars = arn.filter { $0 == "*" }.count
            if stars > 0 {
                guard self.enableIAMEntityDetails else {
                    throw ValidationError(
                        field: "Config.BoundIAMPrincipalARNs",
                        reason: "Must set EnableIAMEntityDetails=true to use wildcards in BoundIAMPrincipalARNs"
                    )
                }
                guard stars == 1, arn.hasSuffix("*") else {
                    throw ValidationError(
                        field: "Config.BoundIAMPrincipalARNs",
                        reason: "Only one wildcard is allowed at the end of the bound IAM principal ARN"
                    )
                }
            }
            let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[0] == "arn", parts[2] == "iam" || parts[2] == "sts" else {
                throw ValidationError(
                    field: "Config.BoundIAMPrincipalARNs",
                    reason: "Invalid principal ARN: \"\(arn)\""
                )
            }
        }
        if !self.iamEntityTags.isEmpty && !self.enableIAMEntityDetails {
            throw ValidationError(
                field: "Config.IAMEntityTags",
                reason: "Must set EnableIAMEntityDetails=true to use IAMUserTags"
            )
        }
        guard self.maxRetries >= 0 else {
            throw ValidationError(field: "Config.MaxRetries", reason: "must not be negative")
        }
        for (field, endpoint) in [("Config.STSEndpoint", self.stsEndpoint), ("Config.IAMEndpoint", self.iamEndpoint)]
        where !endpoint.isEmpty {
            guard let url = URL(string: endpoint), url.scheme == "https" || url.scheme == "http", url.host != nil
            else {
                throw ValidationError(field: field, reason: "expected an absolute http(s) URL, got \(endpoint)")
            }
        }
    }

    /// The config as Consul shows it (empty fields left out, as its `omitempty` tags do).
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "BoundIAMPrincipalARNs": .array(self.boundIAMPrincipalARNs.map(JSONValue.string))
        ]
        if self.enableIAMEntityDetails { object["EnableIAMEntityDetails"] = .bool(true) }
        if !self.iamEntityTags.isEmpty { object["IAMEntityTags"] = .array(self.iamEntityTags.map(JSONValue.string)) }
        if !self.serverIDHeaderValue.isEmpty { object["ServerIDHeaderValue"] = .string(self.serverIDHeaderValue) }
        if self.maxRetries != 0 { object["MaxRetries"] = .number(Double(self.maxRetries)) }
        if !self.iamEndpoint.isEmpty { object["IAMEndpoint"] = .string(self.iamEndpoint) }
        if !self.stsEndpoint.isEmpty { object["STSEndpoint"] = .string(self.stsEndpoint) }
        if !self.stsRegion.isEmpty { object["STSRegion"] = .string(self.stsRegion) }
        if !self.allowedSTSHeaderValues.isEmpty {
            object["AllowedSTSHeaderValues"] = .array(self.allowedSTSHeaderValues.map(JSONValue.string))
        }
        return .object(object)
    }

    /// The variables a `BindName` may use with this config.
    var bindVariables: Set<String> {
        var names: Set<String> = ["entity_name", "entity_id", "account_id"]
        if self.enableIAMEntityDetails {
            names.insert("entity_path")
            for tag in self.iamEntityTags { names.insert("entity_tags.\(tag)") }
        }
        return names
    }

    /// The fields a `Selector` may name.
    static let selectorFields: [String: BindingSelector.FieldKind] = [
        "entity_name": .string, "entity_id": .string, "account_id": .string, "entity_path": .string,
        "entity_tags": .map,
    ]

    /// Whether `arn` (the caller's canonical ARN, or with entity details its full ARN) is bound.
    func isBound(_ arn: String) -> Bool {
        if self.boundIAMPrincipalARNs.contains(arn) { return true }
        guard self.enableIAMEntityDetails else { return false }
        return self.boundIAMPrincipalARNs.contains { bound in
            bound.hasSuffix("*") && arn.hasPrefix(bound.dropLast())
        }
    }
}
