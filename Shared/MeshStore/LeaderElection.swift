public import Logging
public import MeshCore
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Picks one replica for singleton work (TTL reaping, tombstone GC) with a PostgreSQL session
/// advisory lock.
///
/// The lock is taken on a dedicated connection held for the whole term, never on a pooled one
/// (the pool would hand the connection back with the lock still held). The leader's writes go
/// over that same connection, so a replica that lost its session cannot act as leader: its
/// writes fail with the connection. When the holder dies, PostgreSQL drops its session and the
/// lock; another replica takes it within `retryInterval`.
public final class LeaderElection: Sendable {
    /// The work of one term. It runs until it returns, throws, or is cancelled because the
    /// session was lost or the service is shutting down.
    public typealias Term = @Sendable (PostgresConnection, Logger) async throws -> Void

    let schema: StoreSchema
    let settings: DatabaseSettings
    let retryInterval: Duration
    let applicationName: String
    let logger: Logger
    let term: Term
    private let leading = Atomic<Bool>(false)
    /// Set when this replica first becomes leader.
    public let firstTerm = Rendezvous<Bool>()

    public init(
        schema: StoreSchema,
        settings: DatabaseSettings,
        applicationName: String,
        retryInterval: Duration = .seconds(1),
        logger: Logger,
        term: @escaping Term
    ) {
        self.schema = schema
        self.settings = settings
        self.applicationName = applicationName
        self.retryInterval = retryInterval
        self.logger = logger
        self.term = term
    }

    /// Whether this replica holds the leader lock now.
    public var isLeader: Bool { self.leading.load(ordering: .relaxed) }
}

extension LeaderElection: Service {
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.campaign()
                } catch {
                    if Task.isCancelled { break }
                    self.logger.warning(
                        "leader election session failed",
                        metadata: [LogKey.error: "\(String(reflecting: error))"]
                    )
                }
                try? await Task.sleep(for: self.retryInterval)
            }
        }
        self.leading.store(false, ordering: .relaxed)
    }

    /// Opens a session, tries the lock until it wins, runs one term, and closes the session.
    private func campaign() async throws {
        var configuration = try self.settings.connectionConfiguration()
        configuration.options.additionalStartupParameters = [("application_name", self.applicationName)]
        let session = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: self.logger)
        do {
            while !Task.isCancelled {
                var won = false
                let rows = try await session.query(
                    "SELECT pg_try_advisory_lock(\(self.schema.leaderLockKey))",
                    logger: self.logger
                )
                for try await held in rows.decode(Bool.self) { won = held }
                if won { break }
                try await Task.sleep(for: self.retryInterval)
            }
            try Task.checkCancellation()
            self.leading.store(true, ordering: .relaxed)
            self.firstTerm.fulfill(true)
            self.logger.info("leadership acquired")
            defer {
                self.leading.store(false, ordering: .relaxed)
                self.logger.info("leadership ended")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.term(session, self.logger) }
                group.addTask {
                    // A lost session ends the term: the lock is gone with it.
                    try await session.closeFuture.get()
                    throw LeaderElectionError.sessionLost
                }
                // Whichever ends first ends the term; closing the session releases the other.
                do {
                    try await group.next()
                } catch {
                    try? await session.close()
                    throw error
                }
                try? await session.close()
            }
        } catch {
            try? await session.close()
            throw error
        }
        try? await session.close()
    }
}

/// Why a leader term ended early.
public enum LeaderElectionError: Error, Sendable {
    case sessionLost
}
