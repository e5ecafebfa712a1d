import AWS
import AsyncHTTPClient
import GRPCCore
import GRPCNIOTransportHTTP2Posix
public import Logging
public import MeshCore
import MeshNet
import MeshProto
public import MeshRPC
import MeshServer
import MeshStore
import MeshStoreHost
import PostgresNIO
public import ServiceLifecycle

/// iam-auth-svc: Consul's auth methods (`aws-iam`), binding rules, login and logout, and the
/// leader-only ACL controller, on a `ServiceHost`. Tokens themselves live in authz-svc.
public final class IAMAuthServer: Service, Sendable {
    let host: ServiceHost

    public init(config: IAMAuthConfig, logger: Logger) throws {
        self.host = try ServiceHost(
            settings: config.host,
            schema: IAMAuthMigrations.schema,
            migrations: IAMAuthMigrations.all,
            logger: logger
        ) { context in
            try await Self.parts(config: config, context: context)
        }
    }

    private static func parts(config: IAMAuthConfig, context: HostContext) async throws -> HostedParts {
        let store = IAMAuthStore(client: context.client, feed: context.feed, logger: context.logger)
        let acl = try ACLEnforcement(
            authzAddress: config.authzAddress,
            tls: config.host.tls,
            resolveTimeout: config.resolveTimeout,
            logger: context.logger
        )
        guard let authz = acl.authzClient else { throw SettingError(setting: "--authz-addr", reason: "required") }
        let tokens = LoginTokensClient(grpc: authz, serviceToken: config.serviceToken)
        // AWS calls leave the mesh: STS/IAM for logins, ECS for the controller. Redirects are never followed.
        let http = HTTPClientService(
            HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: HTTPClient.Configuration(redirectConfiguration: .disallow)
            )
        )
        let login = LoginService(
            store: store,
            verifier: IAMIdentityVerifier(httpClient: http.client),
            tokens: tokens,
            limiter: RateLimiter(perSecond: config.loginRate, burst: Int((config.loginRate * 2).rounded(.up))),
            datacenter: config.datacenter,
            logger: context.logger
        )
        let routes = IAMAuthHTTP(store: store, login: login, tokens: tokens, gate: acl.gate, logger: context.logger)
        var leaderTerm: (@Sendable (PostgresConnection) async throws -> Void)?
        var extraServices: [any Service] = []
        if let settings = config.controller {
            let credentials = AWSCredentialsProviderChain.default(
                environment: config.awsEnvironment,
                httpClient: http.client
            )
            var clusterNode: ClusterNodeRegistrar?
            if let catalogAddress = config.catalogAddress {
                let catalog = GRPCClient(
                    transport: try HTTP2ClientTransport.Posix.to(
                        catalogAddress,
                        service: .catalog,
                        tls: config.host.tls
                    )
                )
                extraServices.append(GRPCClientService(catalog))
                clusterNode = ClusterNodeRegistrar(
                    catalog: Mesh_V1_Catalog.Client(wrapping: catalog),
                    serviceToken: config.serviceToken,
                    logger: context.logger
                )
            }
            let controller = ACLController(
                settings: settings,
                store: store,
                tokens: tokens,
                clusterNode: clusterNode,
                ecs: ECSClient(
                    httpClient: http.client,
                    credentialsProvider: credentials,
                    region: config.awsRegion,
                    endpoint: config.ecsEndpoint
                ),
                logger: context.logger
            )
            leaderTerm = { _ in try await controller.run() }
        }
        return HostedParts(
            grpcServices: [],
            routes: { router in routes.addRoutes(to: router) },
            leaderTerm: leaderTerm,
            services: acl.services + [http] + extraServices,
            isReady: acl.isReady,
            interceptors: acl.interceptors
        )
    }

    /// The bound REST address.
    public var httpAddress: Rendezvous<HostPort> { self.host.httpAddress }
    /// The bound gRPC address.
    public var grpcAddress: Rendezvous<HostPort> { self.host.grpcAddress }
    /// True once migrated, bound and listening to the change feed; false if stopped before that.
    public var ready: Rendezvous<Bool> { self.host.ready }
    /// Whether this replica holds the leader lock now.
    public var isLeader: Bool { self.host.isLeader }

    /// The PostgreSQL pool. Run it as a service *before* the server in the same group.
    public var postgres: some Service { self.host.postgres }

    public func run() async throws {
        try await self.host.run()
    }
}

/// Owns an HTTP client for the life of the service group and shuts it down at the end.
final class HTTPClientService: Service, Sendable {
    let client: HTTPClient

    init(_ client: HTTPClient) {
        self.client = client
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}
