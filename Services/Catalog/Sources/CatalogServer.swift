import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Hummingbird
public import Logging
import MeshCore
public import MeshRPC
import MeshStore
import NIOCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// catalog-svc: the gRPC and REST servers, the change feed and the leader's TTL reaper, on
/// one PostgreSQL pool.
///
/// `run()` runs the pool, migrates the schema (advisory-locked, so replicas may start
/// together), then serves until graceful shutdown. The bound addresses are available through
/// `httpAddress`/`grpcAddress` once listening.
public final class CatalogServer: Service, Sendable {
    let config: CatalogConfig
    let logger: Logger
    let client: PostgresClient
    let migrated = Rendezvous<Bool>()
    /// The bound REST address.
    public let httpAddress = Rendezvous<HostPort>()
    /// The bound gRPC address.
    public let grpcAddress = Rendezvous<HostPort>()

    public init(config: CatalogConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        self.client = PostgresClient(configuration: try config.database.clientConfiguration(), backgroundLogger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            defer { group.cancelAll() }
            try await self.serve()
        }
    }

    private func serve() async throws {
        try await SchemaMigrator(schema: CatalogMigrations.schema, migrations: CatalogMigrations.all)
            .migrate(on: self.client, logger: self.logger)
        self.migrated.fulfill(true)

        try await self.serveBound()
    }

    private func serveBound() async throws {
        let registry = MeshMetrics.registry()
        let advertised = self.config.advertiseAddress ?? self.config.grpcAddress.description
        let feed = ChangeFeed(
            schema: CatalogMigrations.schema,
            client: self.client,
            settings: self.config.database,
            applicationName: ClusterStatus.peerPrefix + advertised,
            safetyInterval: self.config.feedSafetyInterval,
            logger: self.logger
        )
        let store = CatalogStore(client: self.client, feed: feed, datacenter: self.config.datacenter, logger: self.logger)
        let watcher = CatalogWatcher(store: store)
        let grpcServer = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: self.config.grpcAddress.host, port: self.config.grpcAddress.port),
                transportSecurity: .plaintext
            ),
            services: [CatalogRPC(store: store, watcher: watcher, logger: self.logger)]
        )
        let reaper = CatalogReaper(store: store, config: self.config, logger: self.logger)
        let election = LeaderElection(
            schema: CatalogMigrations.schema,
            settings: self.config.database,
            applicationName: ClusterStatus.leaderPrefix + advertised,
            retryInterval: self.config.leaderRetryInterval,
            logger: self.logger,
            term: { session, _ in try await reaper.runTerm(on: session) }
        )
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        let migrated = self.migrated
        router.addOperationalRoutes(registry: registry) {
            migrated.current == true && feed.isListening
        }
        CatalogHTTP(
            store: store,
            watcher: watcher,
            status: ClusterStatus(client: self.client, schema: CatalogMigrations.schema, logger: self.logger),
            logger: self.logger
        ).addRoutes(to: router)
        let httpAddress = self.httpAddress
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(self.config.httpAddress.host, port: self.config.httpAddress.port),
                serverName: "catalog-svc"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let bound = HostPort(host: channel.localAddress?.ipAddress ?? "127.0.0.1", port: port)
                logger.info("catalog-svc http listening", metadata: ["mesh.address": "\(bound)"])
                httpAddress.fulfill(bound)
            },
            logger: self.logger
        )
        let grpcAddress = self.grpcAddress
        let announcer = AddressAnnouncer { [logger] in
            if let address = try await grpcServer.listeningAddress?.ipv4 {
                let bound = HostPort(host: address.host, port: address.port)
                logger.info("catalog-svc grpc listening", metadata: ["mesh.address": "\(bound)"])
                grpcAddress.fulfill(bound)
            }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: feed),
                    .init(service: GRPCServerService(server: grpcServer)),
                    .init(service: announcer, successTerminationBehavior: .ignore),
                    .init(service: election),
                    .init(service: app),
                ],
                logger: self.logger
            )
        )
        try await group.run()
    }
}

/// Runs a one-shot task (logging a bound address) as a lifecycle service.
struct AddressAnnouncer: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await self.body()
    }
}
