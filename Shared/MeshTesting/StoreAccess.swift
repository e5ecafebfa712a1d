public import Logging
public import MeshStore
public import PostgresNIO

/// Runs `body` with a PostgreSQL client and a change feed on a service's database, as a second
/// process would have them: for tests that look at a store beside the running service (no
/// follower of the feed runs unless the test starts one).
public func withStoreAccess<T: Sendable>(
    _ database: DatabaseSettings,
    schema: StoreSchema,
    logger: Logger,
    _ body: @Sendable (PostgresClient, ChangeFeed) async throws -> T
) async throws -> T {
    let client = PostgresClient(configuration: try database.clientConfiguration(), backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        let feed = ChangeFeed(
            schema: schema,
            client: client,
            settings: database,
            applicationName: "mesh-test",
            logger: logger
        )
        do {
            let result = try await body(client, feed)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}
