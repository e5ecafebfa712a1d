import Logging
import MeshCore
import MeshStore
import MeshTesting
import PostgresNIO
import Testing

/// A read or write whose pooled connection went silent (a flow a NAT dropped, a PostgreSQL that
/// went down under a query PostgresNIO never ended) must end at its limit: every watcher sharing
/// a read waited on it, and a write held its HTTP request until the client gave up. Without the
/// limits these never end and the suite's time limit fails them.
@Suite(.timeLimit(.minutes(2))) struct SilentConnectionLimitTests {
    /// Runs `body` with a pool (its schema migrated) whose connections go through `forwarder`.
    func withClientThrough(
        _ body: (PostgresClient, DatabaseSettings, StallableForwarder) async throws -> Void
    ) async throws {
        let settings = try await TestDatabase.fresh()
        let forwarder = try await StallableForwarder.start(to: settings.host, port: settings.port)
        var through = settings
        through.port = forwarder.port
        let client = PostgresClient(configuration: try through.clientConfiguration(), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            _ = try await SchemaMigrator(schema: testSchema, migrations: testMigrations).migrate(
                on: client,
                logger: logger
            )
            try await body(client, through, forwarder)
            await forwarder.close()
        }
    }

    @Test("a write on a connection gone silent ends at its limit; writes recover on new connections")
    func silentWrite() async throws {
        try await self.withClientThrough { client, settings, forwarder in
            let feed = ChangeFeed(
                schema: testSchema,
                client: client,
                settings: settings,
                applicationName: "t",
                logger: logger
            )
            let insert: @Sendable (String) -> @Sendable (PostgresConnection, ModifyIndex) async throws -> Void = { id in
                { connection, index in
                    try await connection.query(
                        "INSERT INTO storetest.items (id, modify_index) VALUES (\(id), \(Int64(index)))",
                        logger: logger
                    )
                }
            }
            try await feed.write([], insert("before"))
            forwarder.stallExisting()
            let start = ContinuousClock.now
            await #expect(throws: PostgresTimeout.self) {
                try await feed.write([], limit: .seconds(1), insert("stalled"))
            }
            #expect(ContinuousClock.now - start < .seconds(30))
            var written = false
            for attempt in 0..<20 where !written {
                written = (try? await feed.write([], limit: .seconds(1), insert("after\(attempt)"))) != nil
            }
            #expect(written)
        }
    }

    @Test("a snapshot read on a connection gone silent ends at its limit; reads recover on new connections")
    func silentRead() async throws {
        try await self.withClientThrough { client, _, forwarder in
            let before = try await client.withSnapshot(of: testSchema, logger: logger) { _, stable in stable }
            forwarder.stallExisting()
            let start = ContinuousClock.now
            await #expect(throws: PostgresTimeout.self) {
                try await client.withSnapshot(of: testSchema, logger: logger, limit: .seconds(1)) { _, stable in
                    stable
                }
            }
            // The limit, not the connection's fate, ended it (generous: CI machines are slow).
            #expect(ContinuousClock.now - start < .seconds(30))

            // Other idle connections of the pool went silent too; once they are used up, the pool
            // makes new ones, which the forwarder passes.
            var after: UInt64?
            for _ in 0..<20 where after == nil {
                after = try? await client.withSnapshot(of: testSchema, logger: logger, limit: .seconds(1)) {
                    _,
                    stable in
                    stable
                }
            }
            #expect(after == before)
        }
    }
}
