public import Logging
public import PostgresNIO

extension PostgresClient {
    /// The schema's stable index: every write at or below it has finished (see `IndexMigrations`).
    public func stableIndex(of schema: StoreSchema, logger: Logger) async throws -> UInt64 {
        try await self.withConnection { connection in
            try await connection.stableIndex(of: schema, logger: logger)
        }
    }

    /// Runs `body` in a read-only REPEATABLE READ transaction whose snapshot is taken after the
    /// stable index was read, and passes that index along.
    ///
    /// Everything `body` reads comes from one snapshot that contains every write up to the
    /// stable index, so the index a reader reports never skips a write that commits later.
    public func withSnapshot<Result: Sendable>(
        of schema: StoreSchema,
        logger: Logger,
        _ body: (PostgresConnection, UInt64) async throws -> Result
    ) async throws -> Result {
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
}

extension PostgresConnection {
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
