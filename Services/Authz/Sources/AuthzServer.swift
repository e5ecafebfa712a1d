public import Logging
public import MeshCore
public import MeshRPC
import MeshServer
import MeshStore
import MeshStoreHost
public import ServiceLifecycle

/// authz-svc: ACL tokens, policies and roles, token resolution for the other services, and
/// intentions, on a `ServiceHost`.
///
/// Run `postgres` and then the server in one `ServiceGroup`. The leader deletes expired tokens.
public final class AuthzServer: Service, Sendable {
    let host: ServiceHost

    public init(config: AuthzConfig, logger: Logger) throws {
        self.host = try ServiceHost(
            settings: config.host,
            schema: AuthzMigrations.schema,
            migrations: AuthzMigrations.all,
            logger: logger
        ) { context in
            try await Self.parts(config: config, context: context)
        }
    }

    private static func parts(config: AuthzConfig, context: HostContext) async throws -> HostedParts {
        let store = AuthzStore(client: context.client, feed: context.feed, logger: context.logger)
        if let secret = config.initialManagementToken, !secret.isEmpty {
            try await Self.ensureInitialManagement(secret, store: store, logger: context.logger)
        }
        let feed = context.feed
        let gate = ACLGate(
            source: StoreTokenSource(store: store),
            defaultPolicy: config.defaultPolicy,
            version: { feed.version(of: AuthzStore.aclTopic) }
        )
        let intentions = IntentionsCache(store: store)
        let followers = [
            TopicFollower(feed: context.feed, topic: AuthzStore.aclTopic) { gate.invalidate() },
            TopicFollower(feed: context.feed, topic: AuthzStore.intentionsTopic) { intentions.invalidate() },
        ]
        let http = AuthzHTTP(store: store, gate: gate, intentions: intentions, logger: context.logger)
        let interval = config.reapInterval
        return HostedParts(
            grpcServices: [
                AuthzRPC(store: store, defaultPolicy: config.defaultPolicy, logger: context.logger),
                IntentionsRPC(store: store, cache: intentions, gate: gate, logger: context.logger),
                LoginTokensRPC(store: store, logger: context.logger),
            ],
            routes: { router in http.addRoutes(to: router) },
            leaderTerm: { session in
                while !Task.isCancelled {
                    let reaped = try await store.reapExpiredTokens(on: session)
                    if reaped > 0 {
                        context.logger.info("expired tokens deleted", metadata: [LogKey.count: "\(reaped)"])
                    }
                    try await Task.sleep(for: interval)
                }
            },
            services: followers,
            interceptors: [ACLInterceptor(gate: gate)]
        )
    }

    /// Creates the configured management token; replicas starting together may race, and a
    /// loser finds the winner's token.
    private static func ensureInitialManagement(_ secret: String, store: AuthzStore, logger: Logger) async throws {
        do {
            try await store.ensureInitialManagement(secret: secret)
        } catch AuthzError.conflict {
            guard try await store.token(secret: secret) != nil else { throw AuthzError.conflict("initial management") }
        }
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
