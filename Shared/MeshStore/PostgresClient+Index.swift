public import Logging
import MeshCore
public import PostgresNIO

extension PostgresClient {
    /// The schema's stable index: every write at or below it has finished (see `IndexMigrations`).
    public func stableIndex(of schema: StoreSchema, logger: Logger) async throws -> UInt64 {
        try await self.withConnection { connection in
            try await connection.stableIndex(of: schema, logger: logger)
        }
    }

    /// How long a snapshot read may take before its caller stops waiting for it.
    public static let snapshotReadLimit: Duration = .seconds(30)

    /// Runs `body` in a read-only REPEATABLE READ transaction whose snapshot is taken after the
    /// stable index was read, and passes that index along.
    ///
    /// Everything `body` reads comes from one snapshot that contains every write up to the
    /// stable index, so the index a reader reports never skips a write that commits later.
    ///
    /// Throws ``PostgresTimeout`` after `limit`, leaving the read behind (``abandoning``): a read
    /// on a pooled connection that went silent, or in flight when PostgreSQL restarted, did not
    /// always end, and every watcher that shares a read (``SharedReads``) waited on it.
    public func withSnapshot<Result: Sendable>(
        of schema: StoreSchema,
        logger: Logger,
        limit: Duration = PostgresClient.snapshotReadLimit,
        _ body: @escaping @Sendable (PostgresConnection, UInt64) async throws -> Result
    ) async throws -> Result {
        do {
            return try await abandoning("a snapshot read", after: limit) {
                try await self.withConnection { connection in
                    let stable = try await connection.stableIndex(of: schema, logger: logger)
                    try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                    do {
                        let result = try await body(connection, stable)
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            }
        } catch let timeout as PostgresTimeout {
            logger.warning("abandoned a snapshot read", metadata: [LogKey.error: "\(timeout)"])
            throw timeout
        }
    }
}

extension PostgresClient {
    /// `withTransaction` (COMMIT, or ROLLBACK on throw), except that an error the body throws
    /// comes back as itself rather than wrapped in `PostgresTransactionError`, so callers can
    /// catch their own domain errors.
    public func transaction<Result: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> Result {
        do {
            return try await self.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError { throw inner }
            throw error
        }
    }
}

extension PostgresConnection {
    /// Draws the schema's next modify index inside the current transaction (taking the
    /// in-flight lock that keeps readers' stable index below it until commit).
    public func nextIndex(of schema: StoreSchema, logger: Logger) async throws -> UInt64 {
        let rows = try await self.query("SELECT \(unescaped: schema.name).next_index()", logger: logger)
        for try await value in rows.decode(Int64.self) { return UInt64(value) }
        return 0
    }

    /// The schema's stable index, read on this connection.
    public func stableIndex(of schema: StoreSchema, logger: Logger) async throws -> UInt64 {
        let rows = try await self.query(
            "SELECT \(unescaped: schema.name).stable_index()",
            logger: logger
        )
        for try await value in rows.decode(Int64.self) { return UInt64(max(value, 1)) }
        return 1
    }
}
