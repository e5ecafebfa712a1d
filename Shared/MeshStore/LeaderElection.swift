public import Logging
public import MeshCore
import NIOCore
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
    ///
    /// Cancellation closes the session, which fails the term's queries on it (PostgresNIO's
    /// queries do not end on cancellation). The lock query is given up on rather than awaited:
    /// one sent as PostgreSQL shut down never ended, even once its session was closed, and held
    /// the replica's graceful shutdown until the replica was killed.
    private func campaign() async throws {
        var configuration = try self.settings.connectionConfiguration()
        configuration.options.additionalStartupParameters = [("application_name", self.applicationName)]
        let session = try await PostgresConnection.connect(bounded: configuration, id: 1, logger: self.logger)
        try await withTaskCancellationHandler {
            try await self.campaign(on: session)
        } onCancel: {
            let closing: EventLoopFuture<Void> = session.close()
            _ = closing
        }
    }

    private func campaign(on session: PostgresConnection) async throws {
        do {
            while !Task.isCancelled {
                if try await self.tryLock(on: session) { break }
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
                // Left behind rather than awaited once the term ends otherwise: a term query in
                // flight when the session closes (the shutdown closes it) did not always end, and
                // the wait held the replica's graceful shutdown until it was killed.
                group.addTask {
                    try await abandoning("the leader's term", after: nil) { try await self.term(session, self.logger) }
                }
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

extension LeaderElection {
    /// One try of the lock, given up (with the session, closed) after `lockQueryTimeout` or at
    /// cancellation: see ``abandoning(_:after:_:lateResult:)``.
    private func tryLock(on session: PostgresConnection) async throws -> Bool {
        let key = self.schema.leaderLockKey
        let logger = self.logger
        do {
            return try await abandoning("the leader lock query", after: Self.lockQueryTimeout) {
                var won = false
                let rows = try await session.query("SELECT pg_try_advisory_lock(\(key))", logger: logger)
                for try await held in rows.decode(Bool.self) { won = held }
                return won
            }
        } catch {
            try? await session.close()
            throw error
        }
    }

    static let lockQueryTimeout: Duration = .seconds(10)
}

/// Why a leader term ended early.
public enum LeaderElectionError: Error, Sendable {
    case sessionLost
}
