public import Foundation
import MeshCore
import MeshNet
public import MeshRPC
import MeshServer
import MeshStore
public import MeshStoreHost

/// iam-auth-svc's settings, resolved once in `main`.
///
/// - `--database-url` / `MESH_DATABASE_URL` (or libpq's `PG*` variables): required
/// - `--authz-addr` / `MESH_AUTHZ_ADDR`: authz-svc's gRPC address; required (tokens live there)
/// - `--acl-token` / `MESH_ACL_TOKEN`: this service's own token, with `acl:write`, used to mint and
///   delete login tokens; required
/// - `--grpc-addr` / `MESH_GRPC_ADDR` (default 127.0.0.1:8508), `--http-addr` / `MESH_HTTP_ADDR`
///   (default 127.0.0.1:8509)
/// - `--datacenter` / `MESH_DATACENTER` (default dc1): the datacenter of node identities bound at login
/// - The ACL controller, on when `--ecs-cluster` / `MESH_ECS_CLUSTER` is given:
///   `--bound-iam-principal-arn` / `MESH_IAM_BOUND_ARNS` (comma-separated; required with it),
///   `--auth-method` (default `iam-ecs-service-token`), `--aws-region` / `AWS_REGION`,
///   `--ecs-endpoint` / `MESH_ECS_ENDPOINT`, `--sts-endpoint`, `--iam-endpoint`,
///   `--server-id-header-value`, `--max-token-ttl` / `MESH_IAM_MAX_TOKEN_TTL` (the created method's
///   `MaxTokenTTL`; none by default, as consul-ecs), `--controller-interval` (default 10s).
///   AWS credentials come from the usual chain (environment, ECS container endpoint, profile).
///   With `--catalog-addr` / `MESH_CATALOG_ADDR` (catalog-svc's gRPC) it also registers the
///   cluster's node, which tasks register their instances on.
/// - `--login-rate` / `MESH_IAM_LOGIN_RATE` (default 50): logins verified with AWS per second per
///   replica at most, after a burst of twice as many; past it a login is answered 429 before any
///   AWS call (each login makes one or two)
public struct IAMAuthConfig: Sendable {
    public var host: HostSettings
    public var authzAddress: ServiceAddress
    public var serviceToken: String
    public var datacenter: String = "dc1"
    public var controller: ACLControllerSettings?
    public var awsRegion: String = "us-east-1"
    public var ecsEndpoint: URL?
    /// catalog-svc's gRPC address: with the controller, the cluster's node is registered there.
    public var catalogAddress: ServiceAddress?
    public var loginRate: Double = 50
    /// The environment AWS credentials are read from (passed in, so tests give their own).
    public var awsEnvironment: [String: String] = [:]
    /// The deadline of a token resolution at authz-svc (tests on a loaded machine give more).
    public var resolveTimeout: Duration = .seconds(5)

    public init(host: HostSettings, authzAddress: ServiceAddress, serviceToken: String) {
        self.host = host
        self.host.name = "iam-auth-svc"
        self.authzAddress = authzAddress
        self.serviceToken = serviceToken
    }

    /// Flags as given on the command line (nil when absent).
    public struct Flags: Sendable {
        public var host = HostFlags()
        public var authzAddr: String?
        public var aclToken: String?
        public var datacenter: String?
        public var ecsCluster: String?
        public var boundARNs: String?
        public var authMethod: String?
        public var awsRegion: String?
        public var ecsEndpoint: String?
        public var stsEndpoint: String?
        public var iamEndpoint: String?
        public var serverIDHeaderValue: String?
        public var controllerInterval: String?
        public var maxTokenTTL: String?
        public var catalogAddr: String?
        public var loginRate: String?

        public init() {}
    }

    /// Builds the config from flags and the environment; a bad or missing setting names itself.
    public static func resolve(_ flags: Flags, environment: [String: String]) throws -> IAMAuthConfig {
        let settings = SettingResolver(environment: environment)
        guard let authz = settings.string(flag: flags.authzAddr, variable: "MESH_AUTHZ_ADDR"), !authz.isEmpty else {
            throw SettingError(
                setting: "--authz-addr / MESH_AUTHZ_ADDR",
                reason: "required: login tokens are made by authz-svc"
            )
        }
        guard let token = settings.string(flag: flags.aclToken, variable: "MESH_ACL_TOKEN"), !token.isEmpty else {
            throw SettingError(
                setting: "--acl-token / MESH_ACL_TOKEN",
                reason: "required: a token with acl:write, with which this service makes and deletes login tokens"
            )
        }
        var config = IAMAuthConfig(
            host: try HostSettings.resolve(
                flags.host,
                name: "iam-auth-svc",
                grpcDefault: "127.0.0.1:8508",
                httpDefault: "127.0.0.1:8509",
                environment: environment
            ),
            authzAddress: try settings.serviceAddress(
                flag: authz,
                flagName: "--authz-addr",
                variable: "MESH_AUTHZ_ADDR",
                default: authz
            ),
            serviceToken: token
        )
        config.datacenter = settings.string(flag: flags.datacenter, variable: "MESH_DATACENTER") ?? "dc1"
        config.awsEnvironment = environment
        config.awsRegion =
            settings.string(flag: flags.awsRegion, variable: "AWS_REGION") ?? environment["AWS_DEFAULT_REGION"]
            ?? "us-east-1"
        if let endpoint = settings.string(flag: flags.ecsEndpoint, variable: "MESH_ECS_ENDPOINT"), !endpoint.isEmpty {
            guard let url = URL(string: endpoint), url.host != nil else {
                throw SettingError(setting: "--ecs-endpoint / MESH_ECS_ENDPOINT", reason: "not a URL: \(endpoint)")
            }
            config.ecsEndpoint = url
        }
        if let rate = settings.string(flag: flags.loginRate, variable: "MESH_IAM_LOGIN_RATE") {
            guard let value = Double(rate), value > 0, value.isFinite else {
                throw SettingError(setting: "--login-rate / MESH_IAM_LOGIN_RATE", reason: "expected a positive number")
            }
            config.loginRate = value
        }
        if let catalog = settings.string(flag: flags.catalogAddr, variable: "MESH_CATALOG_ADDR"), !catalog.isEmpty {
            config.catalogAddress = try settings.serviceAddress(
                flag: catalog,
                flagName: "--catalog-addr",
                variable: "MESH_CATALOG_ADDR",
                default: catalog
            )
        }
        if let cluster = settings.string(flag: flags.ecsCluster, variable: "MESH_ECS_CLUSTER"), !cluster.isEmpty {
            let arns = (settings.string(flag: flags.boundARNs, variable: "MESH_IAM_BOUND_ARNS") ?? "")
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !arns.isEmpty else {
                throw SettingError(
                    setting: "--bound-iam-principal-arn / MESH_IAM_BOUND_ARNS",
                    reason: "required with --ecs-cluster, e.g. arn:aws:iam::123456789012:role/consul-ecs/*"
                )
            }
            var controller = ACLControllerSettings(cluster: cluster, boundIAMPrincipalARNs: arns)
            controller.authMethod = flags.authMethod ?? controller.authMethod
            controller.stsEndpoint = flags.stsEndpoint ?? ""
            controller.iamEndpoint = flags.iamEndpoint ?? ""
            controller.stsRegion = flags.stsEndpoint == nil ? "" : config.awsRegion
            controller.serverIDHeaderValue = flags.serverIDHeaderValue ?? ""
            controller.interval = try settings.duration(
                flag: flags.controllerInterval,
                flagName: "--controller-interval",
                variable: "MESH_CONTROLLER_INTERVAL",
                default: .seconds(10)
            )
            if let ttl = flags.maxTokenTTL ?? environment["MESH_IAM_MAX_TOKEN_TTL"], !ttl.isEmpty {
                guard let duration = GoDuration.parse(ttl), duration >= .seconds(60) else {
                    throw SettingError(setting: "--max-token-ttl", reason: "expected a duration of at least 1m")
                }
                controller.maxTokenTTL = duration
            }
            do {
                try controller.method.config.validate()
            } catch {
                throw SettingError(setting: "--bound-iam-principal-arn", reason: "\(error.reason)")
            }
            config.controller = controller
        }
        return config
    }
}
