public import GRPCCore
public import Hummingbird
public import Logging
public import MeshCore
public import MeshRPC
import MeshServer
public import MeshStore
public import PostgresNIO
public import ServiceLifecycle

/// What a service contributes to its host once the store is migrated and the change feed exists.
public struct HostedParts: Sendable {
    /// The gRPC services to serve.
    public var grpcServices: [any RegistrableRPCService]
    /// Adds the service's REST routes (the host adds `/metrics`, `/ready` and `/healthz`).
    public var routes: @Sendable (Router<BasicRequestContext>) -> Void
    /// The leader's singleton work, run for each term over the leader's own session; nil when
    /// the service has none.
    public var leaderTerm: (@Sendable (PostgresConnection) async throws -> Void)?
    /// Background services that live as long as the servers (caches following a watch, say).
    public var services: [any Service]
    /// Extra readiness conditions, checked with the host's own.
    public var isReady: @Sendable () -> Bool
    /// Interceptors for every gRPC call (the ACL interceptor, when ACLs are on).
    public var interceptors: [any ServerInterceptor]

    public init(
        grpcServices: [any RegistrableRPCService],
        routes: @escaping @Sendable (Router<BasicRequestContext>) -> Void,
        leaderTerm: (@Sendable (PostgresConnection) async throws -> Void)? = nil,
        services: [any Service] = [],
        isReady: @escaping @Sendable () -> Bool = { true },
        interceptors: [any ServerInterceptor] = []
    ) {
        self.interceptors = interceptors
        self.grpcServices = grpcServices
        self.routes = routes
        self.leaderTerm = leaderTerm
        self.services = services
        self.isReady = isReady
    }
}

/// What the host hands a service to build its parts from.
public struct HostContext: Sendable {
    public let client: PostgresClient
    public let feed: ChangeFeed
    public let schema: StoreSchema
    public let settings: HostSettings
    public let logger: Logger
}

/// The store layer every control-plane service with a database shares, on top of the
/// database-free `ServerHost`: migrations, the change feed and leader election, on one
/// PostgreSQL pool.
///
/// Run `postgres` and then the host in one `ServiceGroup`, so the pool starts first and stops
/// last. `run()` migrates the schema (advisory-locked, so replicas may start together), asks
/// the service for its parts, then serves until graceful shutdown. Replicas find each other
/// through the application names of their sessions (`mesh-<schema> <address>`).
public final class ServiceHost: Service, Sendable {
    let settings: HostSettings
    let schema: StoreSchema
    let migrations: [Migration]
    let logger: Logger
    let build: @Sendable (HostContext) async throws -> HostedParts
    let server: ServerHost
    /// The pool every query of this service goes through.
    public let client: PostgresClient
    let migrated = Rendezvous<Bool>()
    private let feedHolder = Rendezvous<ChangeFeed>()
    private let electionHolder = Rendezvous<LeaderElection>()

    public init(
        settings: HostSettings,
        schema: StoreSchema,
        migrations: [Migration],
        logger: Logger,
        build: @escaping @Sendable (HostContext) async throws -> HostedParts
    ) throws {
        self.settings = settings
        self.schema = schema
        self.migrations = migrations
        self.logger = logger
        self.build = build
        self.server = ServerHost(settings: settings.server, logger: logger)
        self.client = PostgresClient(
            configuration: try settings.database.clientConfiguration(),
            backgroundLogger: logger
        )
    }

    /// The bound REST address.
    public var httpAddress: Rendezvous<HostPort> { self.server.httpAddress }
    /// The bound gRPC address.
    public var grpcAddress: Rendezvous<HostPort> { self.server.grpcAddress }
    /// True once the schema is migrated, both servers are bound and the change feed listens
    /// (what `/ready` reports); false if the host stopped before that.
    public var ready: Rendezvous<Bool> { self.server.ready }

    /// The application-name prefix of every replica's listening session.
    public static func peerPrefix(of schema: StoreSchema) -> String { "mesh-\(schema.name) " }
    /// The application-name prefix of the leader's session.
    public static func leaderPrefix(of schema: StoreSchema) -> String { "mesh-\(schema.name)-leader " }

    /// Whether this replica holds the leader lock now.
    public var isLeader: Bool { self.electionHolder.current?.isLeader ?? false }

    /// Returns once this replica has become leader for the first time.
    public func waitUntilLeader() async {
        _ = await self.electionHolder.value.firstTerm.value
    }

    /// The number of blocking queries and watches parked on the change feed (tests and metrics).
    public var waiterCount: Int { self.feedHolder.current?.waiterCount ?? 0 }

    /// The PostgreSQL pool. Run it as a service *before* the host in the same group.
    public var postgres: some Service { PostgresPoolService(client: self.client) }

    public func run() async throws {
        // Whatever ends the host (failure or shutdown) also answers anyone awaiting readiness.
        defer { self.server.ready.fulfill(false) }
        do {
            try await self.serve()
        } catch {
            // PostgresNIO redacts its errors' descriptions; the reflection carries the server's message.
            self.logger.error(
                "\(self.settings.name) stopped",
                metadata: [LogKey.error: "\(String(reflecting: error))"]
            )
            throw error
        }
    }

    private func serve() async throws {
        self.logger.info("migrating the store", metadata: [LogKey.database: "\(self.settings.database)"])
        try await SchemaMigrator(schema: self.schema, migrations: self.migrations)
            .migrate(on: self.client, logger: self.logger)
        self.migrated.fulfill(true)

        let feed = ChangeFeed(
            schema: self.schema,
            client: self.client,
            settings: self.settings.database,
            applicationName: Self.peerPrefix(of: self.schema) + self.settings.advertised,
            safetyInterval: self.settings.feedSafetyInterval,
            logger: self.logger
        )
        self.feedHolder.fulfill(feed)
        let parts = try await self.build(
            HostContext(
                client: self.client,
                feed: feed,
                schema: self.schema,
                settings: self.settings,
                logger: self.logger
            )
        )
        var services: [any Service] = [feed]
        if let term = parts.leaderTerm {
            let election = LeaderElection(
                schema: self.schema,
                settings: self.settings.database,
                applicationName: Self.leaderPrefix(of: self.schema) + self.settings.advertised,
                retryInterval: self.settings.leaderRetryInterval,
                logger: self.logger,
                term: { session, _ in try await term(session) }
            )
            self.electionHolder.fulfill(election)
            services.append(election)
        }
        services += parts.services
        let migrated = self.migrated
        let isReady = parts.isReady
        try await self.server.serve(
            ServerParts(
                grpcServices: parts.grpcServices,
                interceptors: parts.interceptors,
                routes: parts.routes,
                services: services,
                isReady: { migrated.current == true && feed.isListening && isReady() },
                readyWhen: { await feed.waitUntilListening() }
            )
        )
    }
}

/// The pool as a lifecycle service (PostgresClient stops on graceful shutdown by itself).
struct PostgresPoolService: Service {
    let client: PostgresClient

    func run() async throws {
        await self.client.run()
    }
}
