import MeshCore
import MeshRPC

/// The `mesh` config entry (Consul's `MeshConfigEntry`): one per cluster, named `mesh`; writing
/// it needs `mesh:write`, reading it nothing. What the proxies take from it is
/// `HTTP.Incoming.RequestNormalization`.
enum MeshConfigEntry {
    static let name = "mesh"

    static let escapedSlashesActions =
        ["IMPLEMENTATION_SPECIFIC_DEFAULT"]
        + RequestNormalization.EscapedSlashesAction.allCases.map(\.rawValue)
    static let underscoresActions = RequestNormalization.UnderscoresAction.allCases.map(\.rawValue)
    static let tlsVersions = ["TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"]

    /// Consul's `Validate()` of the entry's blocks, plus what our data plane cannot honour: its
    /// mTLS is always TLS 1.3, so a `TLSMaxVersion` below it or `CipherSuites` (TLS 1.2 and
    /// earlier only) are refused rather than ignored.
    static func validate(_ body: [String: JSONValue]) throws(ValidationError) {
        let object = try LenientObject(.object(body))
        if let tls = try object.object("TLS") {
            for direction in ["Incoming", "Outgoing"] {
                guard let settings = try tls.object(direction) else { continue }
                let field = "TLS.\(direction)"
                func version(_ key: String) throws(ValidationError) -> String? {
                    guard let value = try settings.string(key), !value.isEmpty else { return nil }
                    guard Self.tlsVersions.contains(value) else {
                        throw ValidationError(
                            field: "\(field).\(key)",
                            reason: "no matching TLS version found for \(value), please specify one of ["
                                + Self.tlsVersions.joined(separator: ", ") + "]"
                        )
                    }
                    return value
                }
                _ = try version("TLSMinVersion")
                if let max = try version("TLSMaxVersion"), max != "TLS_AUTO", max != "TLSv1_3" {
                    throw ValidationError(
                        field: "\(field).TLSMaxVersion",
                        reason: "mesh mTLS is always TLS 1.3; a maximum of \(max) cannot be honoured"
                    )
                }
                if let suites = try settings.stringArray("CipherSuites"), !suites.isEmpty {
                    throw ValidationError(
                        field: "\(field).CipherSuites",
                        reason: "configuring CipherSuites is only applicable to TLS 1.2 or earlier; "
                            + "mesh mTLS is TLS 1.3"
                    )
                }
            }
        }
        _ = try Self.requestNormalization(body)
    }

    /// The public listeners' normalization: the entry's `HTTP.Incoming.RequestNormalization` over
    /// our defaults, field by field (an absent field, `""` or `IMPLEMENTATION_SPECIFIC_DEFAULT`
    /// keeps the default). Nil body (no entry): the defaults.
    static func requestNormalization(_ body: [String: JSONValue]?) throws(ValidationError) -> RequestNormalization {
        var settings = RequestNormalization.default
        guard let body,
            let block = try LenientObject(.object(body)).object("HTTP")?.object("Incoming")?
                .object("RequestNormalization")
        else { return settings }
        let field = "HTTP.Incoming.RequestNormalization"
        if let disable = try block.bool("InsecureDisablePathNormalization") {
            settings.insecureDisablePathNormalization = disable
        }
        if let merge = try block.bool("MergeSlashes") { settings.mergeSlashes = merge }
        if let action = try block.string("PathWithEscapedSlashesAction"), !action.isEmpty,
            action != "IMPLEMENTATION_SPECIFIC_DEFAULT"
        {
            guard let value = RequestNormalization.EscapedSlashesAction(rawValue: action) else {
                throw ValidationError(
                    field: "\(field).PathWithEscapedSlashesAction",
                    reason: "no matching PathWithEscapedSlashesAction value found for \(action), "
                        + "please specify one of [" + Self.escapedSlashesActions.joined(separator: ", ") + "]"
                )
            }
            settings.pathWithEscapedSlashesAction = value
        }
        if let action = try block.string("HeadersWithUnderscoresAction"), !action.isEmpty {
            guard let value = RequestNormalization.UnderscoresAction(rawValue: action) else {
                throw ValidationError(
                    field: "\(field).HeadersWithUnderscoresAction",
                    reason: "no matching HeadersWithUnderscoresAction value found for \(action), "
                        + "please specify one of [" + Self.underscoresActions.joined(separator: ", ") + "]"
                )
            }
            settings.headersWithUnderscoresAction = value
        }
        return settings
    }
}
