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
        if let disable = try block.bool("InsecureDisablePathNormalization") {
            settings.insecureDisablePathNormalization = disable
        }
        if let merge = try block.bool("MergeSlashes") { settings.mergeSlashes = merge }
        if let value = try Self.action(
            RequestNormalization.EscapedSlashesAction.self,
            "PathWithEscapedSlashesAction",
            in: block,
            allowed: Self.escapedSlashesActions
        ) {
            settings.pathWithEscapedSlashesAction = value
        }
        if let value = try Self.action(
            RequestNormalization.UnderscoresAction.self,
            "HeadersWithUnderscoresAction",
            in: block,
            allowed: Self.underscoresActions
        ) {
            settings.headersWithUnderscoresAction = value
        }
        return settings
    }

    /// An action field of the block: nil when absent, `""` or `IMPLEMENTATION_SPECIFIC_DEFAULT`
    /// (the default stays); Consul's message for a value it does not know.
    private static func action<Action: RawRepresentable<String>>(
        _ type: Action.Type,
        _ key: String,
        in block: LenientObject,
        allowed: [String]
    ) throws(ValidationError) -> Action? {
        guard let text = try block.string(key), !text.isEmpty, text != "IMPLEMENTATION_SPECIFIC_DEFAULT" else {
            return nil
        }
        guard let value = Action(rawValue: text) else {
            throw ValidationError(
                field: "HTTP.Incoming.RequestNormalization.\(key)",
                reason: "no matching \(key) value found for \(text), please specify one of ["
                    + allowed.joined(separator: ", ") + "]"
            )
        }
        return value
    }
}
