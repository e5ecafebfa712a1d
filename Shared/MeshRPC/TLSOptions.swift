public import ArgumentParser

/// The TLS flags every service takes (environment fallbacks `MESH_TLS_CERT_FILE`,
/// `MESH_TLS_KEY_FILE`, `MESH_TLS_CA_FILE`).
public struct TLSOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("tls-cert-file"),
        help: "PEM certificate (chain) of this service (env MESH_TLS_CERT_FILE)."
    )
    var certificate: String?

    @Option(name: .customLong("tls-key-file"), help: "PEM private key of that certificate (env MESH_TLS_KEY_FILE).")
    var key: String?

    @Option(
        name: .customLong("tls-ca-file"),
        help: "PEM CA that issues the mesh services' certificates (env MESH_TLS_CA_FILE)."
    )
    var ca: String?

    public init() {}

    /// The paths given on the command line (only valid on a parsed value).
    public var paths: TLSPaths { TLSPaths(certificate: self.certificate, key: self.key, ca: self.ca) }
}

/// TLS file paths as given by flags (nil when not given; the environment is consulted later).
public struct TLSPaths: Sendable, Hashable {
    public var certificate: String?
    public var key: String?
    public var ca: String?

    public init(certificate: String? = nil, key: String? = nil, ca: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }
}
