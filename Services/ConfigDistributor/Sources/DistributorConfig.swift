import MeshCore
import MeshNet
public import MeshRPC
public import MeshServer

/// config-distributor's settings, resolved once in `main`. It keeps no durable state.
///
/// - `--catalog-addr` / `MESH_CATALOG_ADDR`, `--authz-addr` / `MESH_AUTHZ_ADDR`, `--ca-addr` /
///   `MESH_CA_ADDR`: the gRPC addresses of the services it follows; all required
/// - `--acl-token` / `MESH_ACL_TOKEN`: its own token for the watches (service:read and
///   intention:read on everything); may be empty when ACLs are off
/// - `--grpc-addr` / `MESH_GRPC_ADDR` (default 127.0.0.1:8503): where proxies connect
/// - `--http-addr` / `MESH_HTTP_ADDR` (default 127.0.0.1:8504): `/metrics`, `/ready`, `/healthz`
/// - `--datacenter` / `MESH_DATACENTER` (default dc1): the datacenter in upstreams' SPIFFE IDs
public struct DistributorConfig: Sendable {
    public var catalogAddress: ServiceAddress
    public var authzAddress: ServiceAddress
    public var caAddress: ServiceAddress
    public var serviceToken: String
    /// Its listeners (gRPC for proxies, REST for `/metrics` and `/ready`), TLS, limits, drain.
    public var server = ServerSettings(
        name: "config-distributor",
        grpcAddress: HostPort(host: "127.0.0.1", port: 8503),
        httpAddress: HostPort(host: "127.0.0.1", port: 8504),
        grpcClients: .workloads
    )
    public var datacenter: String = "dc1"
    /// Whether proxies' tokens are checked (service:write on the proxy's service).
    public var enforceACLs: Bool = true
    /// The deadline of a token resolution at authz-svc (tests on a loaded machine give more).
    public var resolveTimeout: Duration = .seconds(5)

    public init(
        catalogAddress: ServiceAddress,
        authzAddress: ServiceAddress,
        caAddress: ServiceAddress,
        serviceToken: String
    ) {
        self.catalogAddress = catalogAddress
        self.authzAddress = authzAddress
        self.caAddress = caAddress
        self.serviceToken = serviceToken
    }

    /// Flags as given on the command line (nil when absent).
    public struct Flags: Sendable {
        public var catalogAddr: String?
        public var authzAddr: String?
        public var caAddr: String?
        public var aclToken: String?
        public var grpcAddr: String?
        public var httpAddr: String?
        public var datacenter: String?
        public var tls: TLSPaths = TLSPaths()

        public init() {}
    }

    /// Builds the config from flags and the environment; a bad or missing setting names itself.
    public static func resolve(_ flags: Flags, environment: [String: String]) throws -> DistributorConfig {
        let settings = SettingResolver(environment: environment)
        func required(_ flag: String?, _ name: String, _ variable: String, _ what: String) throws -> ServiceAddress {
            guard let text = settings.string(flag: flag, variable: variable), !text.isEmpty else {
                throw SettingError(setting: "\(name) / \(variable)", reason: "required: \(what)")
            }
            return try settings.serviceAddress(flag: text, flagName: name, variable: variable, default: text)
        }
        var config = DistributorConfig(
            catalogAddress: try required(
                flags.catalogAddr,
                "--catalog-addr",
                "MESH_CATALOG_ADDR",
                "catalog-svc's gRPC"
            ),
            authzAddress: try required(flags.authzAddr, "--authz-addr", "MESH_AUTHZ_ADDR", "authz-svc's gRPC"),
            caAddress: try required(flags.caAddr, "--ca-addr", "MESH_CA_ADDR", "ca-svc's gRPC"),
            serviceToken: settings.string(flag: flags.aclToken, variable: "MESH_ACL_TOKEN") ?? ""
        )
        config.server.grpcAddress = try settings.address(
            flag: flags.grpcAddr,
            flagName: "--grpc-addr",
            variable: "MESH_GRPC_ADDR",
            default: "127.0.0.1:8503"
        )
        config.server.httpAddress = try settings.address(
            flag: flags.httpAddr,
            flagName: "--http-addr",
            variable: "MESH_HTTP_ADDR",
            default: "127.0.0.1:8504"
        )
        config.datacenter = settings.string(flag: flags.datacenter, variable: "MESH_DATACENTER") ?? "dc1"
        config.server.tls = try settings.transportSecurity(
            flags.tls,
            http: config.server.httpAddress,
            grpc: config.server.grpcAddress
        )
        return config
    }
}
