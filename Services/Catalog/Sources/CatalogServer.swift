import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Hummingbird
public import Logging
public import MeshCore
public import MeshRPC
import MeshStore
import NIOCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// catalog-svc: the gRPC and REST servers, the change feed and the leader's TTL reaper, on
/// one PostgreSQL pool.
///
/// Run `postgres` and then the server in one `ServiceGroup`. `run()` migrates the schema
/// (advisory-locked, so replicas may start together), then serves until graceful shutdown. The bound addresses are available through
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
    /// True once the schema is migrated, both servers are bound and the change feed listens
    /// (what `/ready` reports); false if the server stopped before that.
    public let ready = Rendezvous<Bool>()
    private let feedHolder = Rendezvous<ChangeFeed>()

    private let electionHolder = Rendezvous<LeaderElection>()

    /// Whether this replica holds the leader lock now.
    public var isLeader: Bool { self.electionHolder.current?.isLeader ?? false }

    /// Returns once this replica has become leader for the first time.
    public func waitUntilLeader() async {
        _ = await self.electionHolder.value.firstTerm.value
    }

    /// The number of blocking queries and watches parked on the change feed (tests and metrics).
    public var waiterCount: Int { self.feedHolder.current?.waiterCount ?? 0 }

    public init(config: CatalogConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        self.client = PostgresClient(configuration: try config.database.clientConfiguration(), backgroundLogger: logger)
    }

    /// The PostgreSQL pool. Run it as a service *before* the server in the same group, so that
    /// it starts first and stops last: the server still needs it while it shuts down.
    public var postgres: some Service { PostgresPoolService(client: self.client) }

    public func run() async throws {
        // Whatever ends the server (failure or shutdown) also answers anyone awaiting readiness.
        defer { self.ready.fulfill(false) }
        try await self.serve()
    }

    private func serve() async throws {
        try await SchemaMigrator(schema: CatalogMigrations.schema, migrations: CatalogMigrations.all)
            .migrate(on: self.client, logger: self.logger)
        self.migrated.fulfill(true)

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
        self.feedHolder.fulfill(feed)
        let store = CatalogStore(
            client: self.client,
            feed: feed,
            datacenter: self.config.datacenter,
            logger: self.logger
        )
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
        self.electionHolder.fulfill(election)
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
        let ready = self.ready
        let announcer = AddressAnnouncer { [logger] in
            if let address = try await grpcServer.listeningAddress?.ipv4 {
                let bound = HostPort(host: address.host, port: address.port)
                logger.info("catalog-svc grpc listening", metadata: ["mesh.address": "\(bound)"])
                grpcAddress.fulfill(bound)
            }
            await feed.waitUntilListening()
            _ = await httpAddress.value
            ready.fulfill(true)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: feed),
                    .init(service: GRPCServerService(server: grpcServer, drainTimeout: self.config.drainTimeout)),
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

/// The pool as a lifecycle service (PostgresClient stops on graceful shutdown by itself).
struct PostgresPoolService: Service {
    let client: PostgresClient

    func run() async throws {
        await self.client.run()
    }
}

/// Runs a one-shot task (logging a bound address) as a lifecycle service.
struct AddressAnnouncer: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await self.body()
    }
}
