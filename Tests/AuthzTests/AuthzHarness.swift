import Authz
import Foundation
import Logging
import MeshCore
import MeshRPC
import MeshStore
import MeshTesting
import ServiceLifecycle

let testLogger: Logger = {
    var logger = Logger(label: "mesh.authz.test") { StreamLogHandler.standardError(label: $0) }
    let level = ProcessInfo.processInfo.environment["MESH_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .warning
    return logger
}()

/// A running authz-svc in the test process, with its REST API as the management token holder.
struct AuthzUnderTest: Sendable {
    let server: AuthzServer
    let database: DatabaseSettings
    let grpc: HostPort
    /// The REST API, sending the initial management token.
    let admin: TestAPI
    /// The REST API without a token (the anonymous token).
    var anonymous: TestAPI { self.admin.with(token: nil) }
}

let managementSecret = "7a5c1f0e-3d2b-4c8a-9e6f-0123456789ab"

/// Runs authz-svc (ACLs on, default deny, a known management token) on a fresh database.
func withAuthz<T: Sendable>(
    defaultPolicy: ACLDefault = .deny,
    _ body: @Sendable (AuthzUnderTest) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var config = AuthzConfig(
        database: database,
        grpcAddress: HostPort(host: "127.0.0.1", port: 0),
        httpAddress: HostPort(host: "127.0.0.1", port: 0),
        defaultPolicy: defaultPolicy,
        initialManagementToken: managementSecret
    )
    config.drainTimeout = .seconds(1)
    config.leaderRetryInterval = .milliseconds(100)
    let server = try AuthzServer(config: config, logger: testLogger)
    let lifecycle = ServiceGroup(configuration: .init(services: [server.postgres, server], logger: testLogger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await lifecycle.run() }
        let result: Result<T, any Error>
        do {
            guard await server.ready.value else { throw TestFailure("authz-svc failed to start") }
            let running = AuthzUnderTest(
                server: server,
                database: database,
                grpc: await server.grpcAddress.value,
                admin: TestAPI(await server.httpAddress.value, token: managementSecret)
            )
            result = .success(try await body(running))
        } catch {
            result = .failure(error)
        }
        await lifecycle.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}

/// Awaits `condition` with a generous deadline (a hang fails the test instead of blocking it).
func eventually(
    within limit: Duration = .seconds(10),
    _ what: String,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
