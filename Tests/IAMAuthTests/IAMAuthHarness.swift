import AWS
import AsyncHTTPClient
import ControlPlaneHarness
import Foundation
import IAMAuth
import MeshCore
import MeshRPC
import MeshStore
import MeshTesting

/// Runs iam-auth-svc against the authz-svc under test, with the management token as its own.
func withIAMAuth<T: Sendable>(
    authz: AuthzUnderTest,
    controller: ACLControllerSettings? = nil,
    ecsEndpoint: URL? = nil,
    awsEnvironment: [String: String] = [:],
    _ body: @Sendable (TestAPI) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var config = IAMAuthConfig(
        database: database,
        authzAddress: authz.grpc,
        serviceToken: managementSecret,
        grpcAddress: HostPort(host: "127.0.0.1", port: 0),
        httpAddress: HostPort(host: "127.0.0.1", port: 0)
    )
    config.controller = controller
    config.ecsEndpoint = ecsEndpoint
    config.awsEnvironment = awsEnvironment
    config.drainTimeout = .seconds(1)
    config.leaderRetryInterval = .milliseconds(100)
    config.resolveTimeout = .seconds(30)
    let server = try IAMAuthServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        try await eventually("iam-auth-svc /ready") { try await api.get("/ready").status == 200 }
        return try await body(api)
    }
}
