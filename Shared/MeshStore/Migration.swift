public import Logging
import MeshCore
public import PostgresNIO

/// One step of a schema's history. Append only: never edit a migration that has shipped.
public struct Migration: Sendable {
    /// Position in the schema's history, starting at 1, without gaps.
    public var version: Int
    public var name: String
    /// The statements of this step, run in order inside the migration transaction.
    public var statements: [String]

    public init(_ version: Int, _ name: String, sql statements: String...) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    public init(_ version: Int, _ name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Brings a schema up to date at start.
///
/// The whole run is one transaction under a transaction-level advisory lock keyed by the
/// schema, so replicas that start together apply each step once: the second waits for the
/// first, then finds nothing left to do. A failing step rolls everything back and the service
/// refuses to start.
public struct SchemaMigrator: Sendable {
    public let schema: StoreSchema
    public let migrations: [Migration]

    public init(schema: StoreSchema, migrations: [Migration]) {
        precondition(
            migrations.map(\.version) == Array(1...migrations.count),
            "migrations must be numbered 1...n without gaps"
        )
        self.schema = schema
        self.migrations = migrations
    }

    /// Applies the steps not yet applied; returns the versions applied by this call.
    @discardableResult
    public func migrate(on client: PostgresClient, logger: Logger) async throws -> [Int] {
        var logger = logger
        logger[metadataKey: LogKey.schema] = "\(self.schema.name)"
        let schemaName = self.schema.name
        let lockKey = self.schema.migrationLockKey
        let migrations = self.migrations
        let applied = try await client.withTransaction(logger: logger) { connection -> [Int] in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                "CREATE SCHEMA IF NOT EXISTS \(unescaped: schemaName)",
                logger: logger
            )
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS \(unescaped: schemaName).schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """,
                logger: logger
            )
            var done = Set<Int>()
            let rows = try await connection.query(
                "SELECT version FROM \(unescaped: schemaName).schema_migrations",
                logger: logger
            )
            for try await version in rows.decode(Int.self) { done.insert(version) }
            var appliedNow: [Int] = []
            for migration in migrations where !done.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: schemaName).schema_migrations (version, name)
                    VALUES (\(migration.version), \(migration.name))
                    """,
                    logger: logger
                )
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
        if !applied.isEmpty {
            logger.info("schema migrated", metadata: [LogKey.migrations: "\(applied)"])
        } else {
            logger.debug("schema up to date")
        }
        return applied
    }
}
