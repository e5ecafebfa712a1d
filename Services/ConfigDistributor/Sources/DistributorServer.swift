import GRPCCore
import GRPCNIOTransportHTTP2Posix
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
    let server: ServerHost
    /// What the replica knows of the control plane.
    public let view: MeshView

    public init(config: DistributorConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        self.view = MeshView(datacenter: config.datacenter)
        self.server = ServerHost(settings: config.server, logger: logger)
    }

    /// The bound gRPC address (proxies connect here).
    public var grpcAddress: Rendezvous<HostPort> { self.server.grpcAddress }
    /// The bound `/metrics` and `/ready` address.
    public var httpAddress: Rendezvous<HostPort> { self.server.httpAddress }
    /// True once bound and synced with roots and intentions.
    public var ready: Rendezvous<Bool> { self.server.ready }

    public func run() async throws {
        let tls = self.config.server.tls
        let catalog = GRPCClient(
            transport: try HTTP2ClientTransport.Posix.to(self.config.catalogAddress, service: .catalog, tls: tls)
        )
        let ca = GRPCClient(transport: try HTTP2ClientTransport.Posix.to(self.config.caAddress, service: .ca, tls: tls))
        let acl = try ACLEnforcement(
            authzAddress: self.config.enforceACLs ? self.config.authzAddress : nil,
            tls: tls,
            resolveTimeout: self.config.resolveTimeout,
            logger: self.logger
        )
        let authz =
            try acl.authzClient
            ?? GRPCClient(
                transport: try HTTP2ClientTransport.Posix.to(self.config.authzAddress, service: .authz, tls: tls)
            )
        var metadata = Metadata()
        if !self.config.serviceToken.isEmpty { metadata.addToken(self.config.serviceToken) }
        let rpc = DistributorRPC(
            view: self.view,
            ca: Mesh_V1_CA.Client(wrapping: ca),
            enforceACLs: self.config.enforceACLs,
            metrics: DistributorMetrics(),
            logger: self.logger
        )
        let clients = acl.authzClient == nil ? [catalog, ca, authz] : [catalog, ca]
        let follower = MeshView.Follower(
            view: self.view,
            catalog: Mesh_V1_Catalog.Client(wrapping: catalog),
            intentions: Mesh_V1_Intentions.Client(wrapping: authz),
            ca: Mesh_V1_CA.Client(wrapping: ca),
            metadata: metadata,
            logger: self.logger
        )
        let view = self.view
        try await self.server.serve(
            ServerParts(
                grpcServices: [rpc],
                interceptors: acl.interceptors,
                services: clients.map { GRPCClientService($0) } + acl.services + [follower],
                isReady: { view.synced.current == true && acl.isReady() },
                readyWhen: { _ = await view.synced.value }
            )
        )
    }
}
