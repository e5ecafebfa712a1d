import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Hummingbird
import HummingbirdTLS
public import Logging
public import MeshCore
import MeshNet
import MeshProto
public import MeshRPC
import MeshServer
public import ServiceLifecycle

/// config-distributor: follows catalog-svc, authz-svc and ca-svc through their watch streams and
/// serves each proxy's config stream from that one shared view. No database, any number of
/// replicas: a proxy whose replica goes away reconnects to another and resumes from its version.
public final class DistributorServer: Service, Sendable {
    let config: DistributorConfig
    let logger: Logger
    /// What the replica knows of the control plane.
    public let view: MeshView
    /// The bound gRPC address (proxies connect here).
    public let grpcAddress = Rendezvous<HostPort>()
    /// The bound `/metrics` and `/ready` address.
    public let httpAddress = Rendezvous<HostPort>()
    /// True once bound and synced with roots and intentions.
    public let ready = Rendezvous<Bool>()

    public init(config: DistributorConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        self.view = MeshView(datacenter: config.datacenter)
    }

    public func run() async throws {
        let registry = MeshMetrics.registry()
        let tls = self.config.tls
        let catalog = GRPCClient(
            transport: try HTTP2ClientTransport.Posix.to(self.config.catalogAddress, service: .catalog, tls: tls)
        )
        let ca = GRPCClient(transport: try HTTP2ClientTransport.Posix.to(self.config.caAddress, service: .ca, tls: tls))
        let acl = try ACLEnforcement(
            authzAddress: self.config.enforceACLs ? self.config.authzAddress : nil,
            tls: self.config.tls,
            resolveTimeout: self.config.resolveTimeout,
            logger: self.logger
        )
        let authz =
            try acl.authzClient
            ?? GRPCClient(
                transport: try HTTP2ClientTransport.Posix.to(self.config.authzAddress, service: .authz, tls: tls)
            )
        var tokenMetadata = Metadata()
        if !self.config.serviceToken.isEmpty {
            tokenMetadata.addString(self.config.serviceToken, forKey: ACLInterceptor.tokenKey)
        }
        let metadata = tokenMetadata
        let metrics = DistributorMetrics()
        let rpc = DistributorRPC(
            view: self.view,
            ca: Mesh_V1_CA.Client(wrapping: ca),
            enforceACLs: self.config.enforceACLs,
            metrics: metrics,
            logger: self.logger
        )
        let connections = ConnectionCounter(limit: self.config.limits.listener.maxConnections, tracking: true)
        let grpcServer = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: self.config.grpcAddress.host, port: self.config.grpcAddress.port),
                transportSecurity: self.config.tls?.grpcServerSecurityForWorkloads ?? .plaintext,
                config: .mesh(
                    self.config.limits.grpc,
                    limits: self.config.limits.listener,
                    counter: connections
                )
            ),
            services: [rpc],
            interceptors: acl.interceptors
        )
        let view = self.view
        let router = Router()
        router.addOperationalRoutes(registry: registry) { view.synced.current == true && acl.isReady() }
        let httpAddress = self.httpAddress
        let logger = self.logger
        let app = Application(
            router: router,
            server: try self.config.tls.restServer(limits: self.config.limits),
            configuration: .mesh(
                host: self.config.httpAddress.host,
                port: self.config.httpAddress.port,
                serverName: "config-distributor",
                limits: self.config.limits,
                logger: self.logger
            ),
            onServerRunning: { channel in
                let bound = HostPort(
                    host: channel.localAddress?.ipAddress ?? "127.0.0.1",
                    port: channel.localAddress?.port ?? 0
                )
                logger.info("config-distributor http listening", metadata: ["mesh.address": "\(bound)"])
                httpAddress.fulfill(bound)
            },
            logger: self.logger
        )
        let clients: [GRPCClient<HTTP2ClientTransport.Posix>] =
            acl.authzClient == nil ? [catalog, ca, authz] : [catalog, ca]
        var services: [ServiceGroupConfiguration.ServiceConfiguration] =
            clients.map { .init(service: GRPCClientService($0)) }
        services += acl.services.map { .init(service: $0) }
        services.append(
            .init(
                service: OneShotService {
                    await cancelWhenGracefulShutdown {
                        await view.follow(
                            catalog: Mesh_V1_Catalog.Client(wrapping: catalog),
                            intentions: Mesh_V1_Intentions.Client(wrapping: authz),
                            ca: Mesh_V1_CA.Client(wrapping: ca),
                            metadata: metadata,
                            logger: logger
                        )
                    }
                },
                successTerminationBehavior: .ignore
            )
        )
        services.append(
            .init(
                service: GRPCServerService(
                    server: grpcServer,
                    drainTimeout: self.config.drainTimeout,
                    closeRemaining: connections.closeAll
                )
            )
        )
        services.append(.init(service: app))
        let grpcAddress = self.grpcAddress
        let ready = self.ready
        services.append(
            .init(
                service: OneShotService {
                    if let address = try await grpcServer.listeningAddress?.ipv4 {
                        let bound = HostPort(host: address.host, port: address.port)
                        logger.info("config-distributor grpc listening", metadata: ["mesh.address": "\(bound)"])
                        grpcAddress.fulfill(bound)
                    }
                    _ = await httpAddress.value
                    _ = await view.synced.value
                    ready.fulfill(true)
                },
                successTerminationBehavior: .ignore
            )
        )
        try await ServiceGroup(configuration: .init(services: services, logger: self.logger)).run()
    }
}
