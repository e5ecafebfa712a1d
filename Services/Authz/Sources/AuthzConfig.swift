public import MeshCore
public import MeshNet
public import MeshRPC
public import MeshServer
public import MeshStore
import MeshStoreHost

/// authz-svc's settings, resolved once in `main`.
///
/// - `--database-url` / `MESH_DATABASE_URL` (or libpq's `PG*` variables): required
/// - `--grpc-addr` / `MESH_GRPC_ADDR` (default 127.0.0.1:8504), `--http-addr` / `MESH_HTTP_ADDR`
///   (default 127.0.0.1:8505); port 0 picks a free port
/// - `--default-policy` / `MESH_ACL_DEFAULT_POLICY`: `deny` (default) or `allow`, for requests no
///   rule matches and for intentions when none matches
/// - `--initial-management-token` / `MESH_ACL_INITIAL_MANAGEMENT_TOKEN`: a management token made
///   at start if missing (uses up `/v1/acl/bootstrap`, as Consul's `initial_management` does)
public struct AuthzConfig: Sendable {
    public var database: DatabaseSettings
    public var grpcAddress: HostPort
    public var httpAddress: HostPort
    public var advertiseAddress: String?
    public var defaultPolicy: ACLDefault
    public var initialManagementToken: String?
    /// TLS for the listeners (`--tls-*-file`); nil: plaintext on loopback.
    public var tls: TLSFiles?
    /// Connection caps, handshake and idle deadlines, gRPC keepalive (`ServerLimits.default`).
    public var limits: ServerLimits = .default
    /// How often the leader deletes expired tokens.
    public var reapInterval: Duration = .seconds(5)
    public var leaderRetryInterval: Duration = .seconds(1)
    public var feedSafetyInterval: Duration = .seconds(10)
    public var drainTimeout: Duration = .seconds(10)

    public init(
        database: DatabaseSettings,
        grpcAddress: HostPort = HostPort(host: "127.0.0.1", port: 8504),
        httpAddress: HostPort = HostPort(host: "127.0.0.1", port: 8505),
        advertiseAddress: String? = nil,
        defaultPolicy: ACLDefault = .deny,
        initialManagementToken: String? = nil
    ) {
        self.database = database
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.advertiseAddress = advertiseAddress
        self.defaultPolicy = defaultPolicy
        self.initialManagementToken = initialManagementToken
    }

    /// Builds the config from flags (nil when not given) and the environment: a flag wins over
    /// its `MESH_*` variable, which wins over the default.
    public static func resolve(
        databaseURL: String?,
        grpcAddr: String?,
        httpAddr: String?,
        advertiseAddr: String?,
        defaultPolicy: String?,
        initialManagementToken: String?,
        tls: TLSPaths = TLSPaths(),
        environment: [String: String]
    ) throws -> AuthzConfig {
        let settings = SettingResolver(environment: environment)
        let http = try settings.address(
            flag: httpAddr,
            flagName: "--http-addr",
            variable: "MESH_HTTP_ADDR",
            default: "127.0.0.1:8505"
        )
        let policyText = settings.string(flag: defaultPolicy, variable: "MESH_ACL_DEFAULT_POLICY") ?? "deny"
        guard let policy = ACLDefault(rawValue: policyText) else {
            throw SettingError(
                setting: "--default-policy / MESH_ACL_DEFAULT_POLICY",
                reason: "must be allow or deny, not \"\(policyText)\""
            )
        }
        var config = AuthzConfig(
            database: try DatabaseSettings.resolve(
                url: settings.string(flag: databaseURL, variable: "MESH_DATABASE_URL"),
                environment: environment
            ),
            grpcAddress: try settings.address(
                flag: grpcAddr,
                flagName: "--grpc-addr",
                variable: "MESH_GRPC_ADDR",
                default: "127.0.0.1:8504"
            ),
            httpAddress: http,
            advertiseAddress: settings.string(flag: advertiseAddr, variable: "MESH_ADVERTISE_ADDR"),
            defaultPolicy: policy,
            initialManagementToken: settings.string(
                flag: initialManagementToken,
                variable: "MESH_ACL_INITIAL_MANAGEMENT_TOKEN"
            )
        )
        config.tls = try settings.transportSecurity(tls, http: config.httpAddress, grpc: config.grpcAddress)
        return config
    }

    var hostSettings: HostSettings {
        HostSettings(
            name: "authz-svc",
            database: self.database,
            grpcAddress: self.grpcAddress,
            httpAddress: self.httpAddress,
            advertiseAddress: self.advertiseAddress,
            leaderRetryInterval: self.leaderRetryInterval,
            feedSafetyInterval: self.feedSafetyInterval,
            drainTimeout: self.drainTimeout,
            tls: self.tls,
            limits: self.limits
        )
    }
}
