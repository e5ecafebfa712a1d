public import MeshCore
import MeshNet
import MeshRPC
import MeshServer
import MeshStore
public import MeshStoreHost

/// authz-svc's settings, resolved once in `main`.
///
/// - the host's flags (`HostOptions`); `--grpc-addr` default 127.0.0.1:8504, `--http-addr`
///   default 127.0.0.1:8505; port 0 picks a free port
/// - `--default-policy` / `MESH_ACL_DEFAULT_POLICY`: `deny` (default) or `allow`, for requests no
///   rule matches and for intentions when none matches
/// - `--initial-management-token` / `MESH_ACL_INITIAL_MANAGEMENT_TOKEN`: a management token made
///   at start if missing (uses up `/v1/acl/bootstrap`, as Consul's `initial_management` does)
public struct AuthzConfig: Sendable {
    public var host: HostSettings
    public var defaultPolicy: ACLDefault
    public var initialManagementToken: String?
    /// How often the leader deletes expired tokens.
    public var reapInterval: Duration = .seconds(5)

    public init(host: HostSettings, defaultPolicy: ACLDefault = .deny, initialManagementToken: String? = nil) {
        self.host = host
        self.host.name = "authz-svc"
        self.defaultPolicy = defaultPolicy
        self.initialManagementToken = initialManagementToken
    }

    /// Builds the config from flags (nil when not given) and the environment: a flag wins over
    /// its `MESH_*` variable, which wins over the default.
    public static func resolve(
        _ host: HostFlags,
        defaultPolicy: String?,
        initialManagementToken: String?,
        environment: [String: String]
    ) throws -> AuthzConfig {
        let settings = SettingResolver(environment: environment)
        let policyText = settings.string(flag: defaultPolicy, variable: "MESH_ACL_DEFAULT_POLICY") ?? "deny"
        guard let policy = ACLDefault(rawValue: policyText) else {
            throw SettingError(
                setting: "--default-policy / MESH_ACL_DEFAULT_POLICY",
                reason: "must be allow or deny, not \"\(policyText)\""
            )
        }
        return AuthzConfig(
            host: try HostSettings.resolve(
                host,
                name: "authz-svc",
                grpcDefault: "127.0.0.1:8504",
                httpDefault: "127.0.0.1:8505",
                environment: environment
            ),
            defaultPolicy: policy,
            initialManagementToken: settings.string(
                flag: initialManagementToken,
                variable: "MESH_ACL_INITIAL_MANAGEMENT_TOKEN"
            )
        )
    }
}
