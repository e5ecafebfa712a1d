public import Logging
public import MeshCore
public import MeshRPC
import MeshServer
import MeshStore
import MeshStoreHost
public import ServiceLifecycle

/// catalog-svc: the gRPC and REST servers, the change feed and the leader's TTL reaper, on
/// one PostgreSQL pool (a `ServiceHost`).
///
/// Run `postgres` and then the server in one `ServiceGroup`. `run()` migrates the schema
/// (advisory-locked, so replicas may start together), then serves until graceful shutdown. The
/// bound addresses are available through `httpAddress`/`grpcAddress` once listening.
public final class CatalogServer: Service, Sendable {
    let host: ServiceHost

    public init(config: CatalogConfig, logger: Logger) throws {
        self.host = try ServiceHost(
            settings: config.host,
            schema: CatalogMigrations.schema,
            migrations: CatalogMigrations.all,
            logger: logger
        ) { context in
            try Self.parts(config: config, context: context)
        }
    }

    private static func parts(config: CatalogConfig, context: HostContext) throws -> HostedParts {
        let acl = try ACLEnforcement(authzAddress: config.authzAddress, tls: config.host.tls, logger: context.logger)
        let store = CatalogStore(
            client: context.client,
            feed: context.feed,
            datacenter: config.datacenter,
            logger: context.logger
        )
        let watcher = CatalogWatcher(store: store)
        let reaper = CatalogReaper(store: store, config: config, logger: context.logger)
        let http = CatalogHTTP(
            store: store,
            watcher: watcher,
            status: ClusterStatus(client: context.client, schema: context.schema, logger: context.logger),
            gate: acl.gate,
            replica: context.settings.advertised,
            logger: context.logger
        )
        return HostedParts(
            grpcServices: [CatalogRPC(store: store, watcher: watcher, logger: context.logger)],
            routes: { router in http.addRoutes(to: router) },
            leaderTerm: { session in try await reaper.runTerm(on: session) },
            services: acl.services,
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
    /// The number of blocking queries and watches parked on the change feed (tests and metrics).
    public var waiterCount: Int { self.host.waiterCount }

    /// Returns once this replica has become leader for the first time.
    public func waitUntilLeader() async {
        await self.host.waitUntilLeader()
    }

    /// The PostgreSQL pool. Run it as a service *before* the server in the same group, so that
    /// it starts first and stops last: the server still needs it while it shuts down.
    public var postgres: some Service { self.host.postgres }

    public func run() async throws {
        try await self.host.run()
    }
}
