public import Logging
public import MeshCore
public import MeshRPC
import MeshServer
import MeshStore
import MeshStoreHost
public import ServiceLifecycle

/// ca-svc: the cluster's CA (trust domain, roots with sealed keys, rotation with
/// cross-signing), leaf signing from CSRs over gRPC, and Consul's CA REST API, on a `ServiceHost`.
///
/// The first replica to start creates the trust domain and root (under an advisory lock); the
/// leader removes rotated-out roots once every leaf they signed has expired.
public final class CAServer: Service, Sendable {
    let host: ServiceHost

    public init(config: CAConfig, logger: Logger) throws {
        self.host = try ServiceHost(
            settings: config.host,
            schema: CAMigrations.schema,
            migrations: CAMigrations.all,
            logger: logger
        ) { context in
            try await Self.parts(config: config, context: context)
        }
    }

    private static func parts(config: CAConfig, context: HostContext) async throws -> HostedParts {
        let store = CAStore(client: context.client, feed: context.feed, kek: config.kek, logger: context.logger)
        _ = try await store.initialize(config: CAProviderConfig())
        // A wrong key-encryption key must stop the service now, not fail every signing later.
        _ = try await store.activeSigningMaterial()
        let acl = try ACLEnforcement(authzAddress: config.authzAddress, tls: config.host.tls, logger: context.logger)
        let leaves = LeafService(
            store: store,
            limiter: RateLimiter(perSecond: config.csrRate),
            perCaller: RateLimiter(
                perSecond: config.csrRatePerToken,
                burst: max(10, Int(config.csrRatePerToken.rounded(.up)))
            ),
            datacenter: config.datacenter,
            maximumTTL: config.maximumLeafTTL,
            logger: context.logger
        )
        let follower = TopicFollower(feed: context.feed, topic: CAStore.rootsTopic) { leaves.invalidate() }
        let services: [any Service] = acl.services + [follower]
        let http = CAHTTP(
            store: store,
            leaves: leaves,
            gate: acl.gate,
            crossSignValidity: config.crossSignValidity,
            logger: context.logger
        )
        let retention = config.maximumLeafTTL
        return HostedParts(
            grpcServices: [CARPC(store: store, leaves: leaves, logger: context.logger)],
            routes: { router in http.addRoutes(to: router) },
            leaderTerm: { session in
                while !Task.isCancelled {
                    try await store.pruneRoots(olderThan: retention, on: session)
                    try await Task.sleep(for: .seconds(30))
                }
            },
            services: services,
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

    /// The PostgreSQL pool. Run it as a service *before* the server in the same group.
    public var postgres: some Service { self.host.postgres }

    public func run() async throws {
        try await self.host.run()
    }
}
