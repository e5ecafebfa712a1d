#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks an intention before it is written and fills Consul's defaults, with the rules of Consul's
/// `ServiceIntentionsConfigEntry.Normalize` + `Validate` (the path every write takes since 1.9),
/// reported against the flat intention's field names (`Permissions[0].HTTP.PathExact`).
public enum IntentionValidator {
    /// Consul's `metaMaxKeyPairs`.
    public static let maxMetaPairs = 64
    /// Consul's `metaKeyMaxLength`, in UTF-8 bytes.
    public static let maxMetaKeyLength = 128
    /// Consul's `metaValueMaxLength`, in UTF-8 bytes; also the limit on `Description`.
    public static let maxMetaValueLength = 512
    /// The methods Go's `net/http` names and Consul's `isValidHTTPMethod` accepts.
    public static let httpMethods: Set<String> = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
    ]

    /// Returns the intention normalized, or throws the first problem found.
    ///
    /// Normalization, as Consul's: empty namespaces become `default`, an empty `SourceType` becomes
    /// `consul`, `Methods` are uppercased (so `get` is accepted), and `Precedence` is recomputed.
    ///
    /// Beyond Consul, regular expressions (`PathRegex`, `Header[k].Regex`) must compile, and `JWT`
    /// requirements are refused because nothing here verifies tokens.
    @discardableResult
    public static func validate(_ intention: Intention) throws(ValidationError) -> Intention {
        var result = intention
        if result.sourceNamespace.isEmpty { result.sourceNamespace = "default" }
        if result.destinationNamespace.isEmpty { result.destinationNamespace = "default" }
        if result.sourceType.isEmpty { result.sourceType = Intention.sourceTypeConsul }
        for index in result.permissions.indices {
            if let methods = result.permissions[index].http?.methods {
                result.permissions[index].http?.methods = methods.map { $0.uppercased() }
            }
        }
        result.updatePrecedence()

        try Self.validateNames(result)
        try Self.validateOpaque(result)
        guard result.sourceType == Intention.sourceTypeConsul else {
            throw ValidationError(field: "SourceType", reason: "must be set to 'consul'")
        }
        if result.permissions.isEmpty {
            guard result.action.isValid else {
                throw ValidationError(field: "Action", reason: "must be set to 'allow' or 'deny'")
            }
        } else {
            guard result.action == .none else {
                throw ValidationError(field: "Action", reason: "must be omitted if Permissions are specified")
            }
            guard result.destinationNamespace != Intention.wildcard, result.destinationName != Intention.wildcard
            else {
                throw ValidationError(
                    field: "Permissions",
                    reason: "cannot be specified on intentions with wildcarded destinations"
                )
            }
        }
        guard result.jwt == nil else {
            throw ValidationError(field: "JWT", reason: "JWT requirements are not supported")
        }
        for (index, permission) in result.permissions.enumerated() {
            try Self.validate(permission, field: "Permissions[\(index)]")
        }
        return result
    }

    /// Required names, whole-value wildcards, and the partition/peer/sameness-group exclusions.
    private static func validateNames(_ intention: Intention) throws(ValidationError) {
        guard !intention.sourceName.isEmpty else {
            throw ValidationError(field: "SourceName", reason: "must be set")
        }
        guard !intention.destinationName.isEmpty else {
            throw ValidationError(field: "DestinationName", reason: "must be set")
        }
        try Self.validateWildcards(
            namespace: intention.sourceNamespace,
            name: intention.sourceName,
            side: "Source"
        )
        try Self.validateWildcards(
            namespace: intention.destinationNamespace,
            name: intention.destinationName,
            side: "Destination"
        )
        let tenancy = [
            ("SourcePartition", intention.sourcePartition, "partition"),
            ("DestinationPartition", intention.destinationPartition, "partition"),
            ("SourcePeer", intention.sourcePeer, "peer"),
            ("SourceSamenessGroup", intention.sourceSamenessGroup, "sameness group"),
        ]
        for (field, value, noun) in tenancy where value.contains(Intention.wildcard) {
            throw ValidationError(field: field, reason: "cannot use wildcard '*' in \(noun)")
        }
        if !intention.sourcePeer.isEmpty, !intention.sourcePartition.isEmpty {
            throw ValidationError(
                field: "SourcePeer",
                reason: "cannot set SourcePeer and SourcePartition at the same time"
            )
        }
        if !intention.sourceSamenessGroup.isEmpty {
            if !intention.sourcePartition.isEmpty {
                throw ValidationError(
                    field: "SourceSamenessGroup",
                    reason: "cannot set SourceSamenessGroup and SourcePartition at the same time"
                )
            }
            if !intention.sourcePeer.isEmpty {
                throw ValidationError(
                    field: "SourceSamenessGroup",
                    reason: "cannot set SourceSamenessGroup and SourcePeer at the same time"
                )
            }
        }
    }

    /// `*` only as a whole value, and an exact name never under a wildcard namespace.
    private static func validateWildcards(namespace: String, name: String, side: String) throws(ValidationError) {
        if namespace != Intention.wildcard, namespace.contains(Intention.wildcard) {
            throw ValidationError(
                field: "\(side)NS",
                reason: "wildcard character '*' cannot be used with partial values"
            )
        }
        guard name != Intention.wildcard else { return }
        if name.contains(Intention.wildcard) {
            throw ValidationError(
                field: "\(side)Name",
                reason: "wildcard character '*' cannot be used with partial values"
            )
        }
        if namespace == Intention.wildcard {
            throw ValidationError(field: "\(side)Name", reason: "exact value cannot follow wildcard namespace")
        }
    }

    /// `Description` and `Meta` limits, measured in UTF-8 bytes as Go's `len` does.
    private static func validateOpaque(_ intention: Intention) throws(ValidationError) {
        if intention.description.utf8.count > Self.maxMetaValueLength {
            throw ValidationError(
                field: "Description",
                reason: "exceeds maximum length \(Self.maxMetaValueLength)"
            )
        }
        if intention.meta.count > Self.maxMetaPairs {
            throw ValidationError(field: "Meta", reason: "exceeds maximum element count \(Self.maxMetaPairs)")
        }
        for key in intention.meta.keys.sorted() {
            if key.utf8.count > Self.maxMetaKeyLength {
                throw ValidationError(
                    field: "Meta",
                    reason: "key \"\(key)\" exceeds maximum length \(Self.maxMetaKeyLength)"
                )
            }
            if let value = intention.meta[key], value.utf8.count > Self.maxMetaValueLength {
                throw ValidationError(
                    field: "Meta",
                    reason: "value for key \"\(key)\" exceeds maximum length \(Self.maxMetaValueLength)"
                )
            }
        }
    }

    /// One `Permissions[i]`: an action, and an HTTP block that says something valid.
    private static func validate(_ permission: IntentionPermission, field: String) throws(ValidationError) {
        guard permission.action.isValid else {
            throw ValidationError(field: "\(field).Action", reason: "must be set to 'allow' or 'deny'")
        }
        guard let http = permission.http else {
            throw ValidationError(field: "\(field).HTTP", reason: "is required")
        }
        let prefix = "\(field).HTTP"
        var pathParts = 0
        for (name, path) in [("PathExact", http.pathExact), ("PathPrefix", http.pathPrefix)] where !path.isEmpty {
            pathParts += 1
            guard path.hasPrefix("/") else {
                throw ValidationError(field: "\(prefix).\(name)", reason: "doesn't start with '/': \"\(path)\"")
            }
        }
        if !http.pathRegex.isEmpty { pathParts += 1 }
        guard pathParts <= 1 else {
            throw ValidationError(
                field: prefix,
                reason: "should only contain at most one of PathExact, PathPrefix, or PathRegex"
            )
        }
        if !http.pathRegex.isEmpty {
            try Self.validateRegex(http.pathRegex, field: "\(prefix).PathRegex")
        }
        for (index, header) in http.header.enumerated() {
            try Self.validate(header, field: "\(prefix).Header[\(index)]")
        }
        var seen = Set<String>()
        for method in http.methods {
            guard Self.httpMethods.contains(method) else {
                throw ValidationError(field: "\(prefix).Methods", reason: "contains an invalid method \"\(method)\"")
            }
            guard seen.insert(method).inserted else {
                throw ValidationError(field: "\(prefix).Methods", reason: "contains \"\(method)\" more than once")
            }
        }
        guard pathParts + http.header.count + (http.methods.isEmpty ? 0 : 1) > 0 else {
            throw ValidationError(field: prefix, reason: "should not be empty")
        }
        guard permission.jwt == nil else {
            throw ValidationError(field: "\(field).JWT", reason: "JWT requirements are not supported")
        }
    }

    /// One `Header[k]`: a name and exactly one kind of match.
    private static func validate(_ header: IntentionHTTPHeaderPermission, field: String) throws(ValidationError) {
        guard !header.name.isEmpty else {
            throw ValidationError(field: "\(field).Name", reason: "missing required Name field")
        }
        let kinds = [header.exact, header.prefix, header.suffix, header.contains, header.regex]
        let parts = kinds.filter { !$0.isEmpty }.count + (header.present ? 1 : 0)
        guard parts == 1 else {
            throw ValidationError(
                field: field,
                reason: "should only contain one of Present, Exact, Prefix, Suffix, Contains, or Regex"
            )
        }
        if header.ignoreCase, header.present || !header.regex.isEmpty {
            throw ValidationError(
                field: "\(field).IgnoreCase",
                reason: "should set one of Exact, Prefix, Suffix, or Contains when using IgnoreCase"
            )
        }
        if !header.regex.isEmpty {
            try Self.validateRegex(header.regex, field: "\(field).Regex")
        }
    }

    private static func validateRegex(_ pattern: String, field: String) throws(ValidationError) {
        guard IntentionRegex(pattern) != nil else {
            throw ValidationError(field: field, reason: "invalid regular expression \"\(pattern)\"")
        }
    }
}
