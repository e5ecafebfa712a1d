public import Authz
import CA
import Catalog
public import ConfigDistributor
public import Foundation
public import IAMAuth
public import Logging
public import MeshCore
public import MeshRPC
public import MeshServer
public import MeshStore
import MeshStoreHost
import MeshTLS
public import MeshTesting
import ServiceLifecycle

public let testLogger: Logger = {
    var logger = Logger(label: "mesh.authz.test") { StreamLogHandler.standardError(label: $0) }
    let level = ProcessInfo.processInfo.environment["MESH_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .warning
    return logger
}()

/// A running authz-svc in the test process, with its REST API as the management token holder.
public struct AuthzUnderTest: Sendable {
    public let server: AuthzServer
    public let database: DatabaseSettings
    public let grpc: HostPort
    /// The REST API, sending the initial management token.
    public let admin: TestAPI
    /// The REST API without a token (the anonymous token).
    public var anonymous: TestAPI { self.admin.with(token: nil) }
}

public let managementSecret = "7a5c1f0e-3d2b-4c8a-9e6f-0123456789ab"

/// Runs authz-svc (ACLs on, default deny, a known management token) on a fresh database; with
/// `tls`, its gRPC is mutual TLS and its REST API HTTPS (`admin` then does not apply).
public func withAuthz<T: Sendable>(
    defaultPolicy: ACLDefault = .deny,
    tls: TLSFiles? = nil,
    _ body: @Sendable (AuthzUnderTest) async throws -> T
) async throws -> T {
    var fresh = try await TestDatabase.fresh()
    fresh.maximumConnections = 4
    let database = fresh
    var host = HostSettings.loopback(name: "authz-svc", database: database)
    host.drainTimeout = .seconds(1)
    host.leaderRetryInterval = .milliseconds(100)
    host.tls = tls
    let config = AuthzConfig(host: host, defaultPolicy: defaultPolicy, initialManagementToken: managementSecret)
    let server = try AuthzServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        try await body(
            AuthzUnderTest(
                server: server,
                database: database,
                grpc: await server.grpcAddress.value,
                admin: TestAPI(await server.httpAddress.value, token: managementSecret)
            )
        )
    }
}

/// Runs catalog-svc with ACLs enforced through the authz-svc under test.
public func withCatalog<T: Sendable>(
    enforcedBy authz: AuthzUnderTest,
    _ body: @Sendable (TestAPI) async throws -> T
) async throws -> T {
    try await withCatalogAndGRPC(enforcedBy: authz) { api, _ in try await body(api) }
}

/// Runs catalog-svc with ACLs enforced through the authz-svc under test; the body gets its REST
/// API and its gRPC address.
public func withCatalogAndGRPC<T: Sendable>(
    enforcedBy authz: AuthzUnderTest,
    _ body: @Sendable (TestAPI, HostPort) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var host = HostSettings.loopback(name: "catalog-svc", database: database)
    host.drainTimeout = .seconds(1)
    let config = CatalogConfig(host: host, authzAddress: ServiceAddress(authz.grpc))
    let server = try CatalogServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        // Ready for ACL'd traffic once the ACL watch has delivered the state (/ready says so).
        try await eventually("catalog-svc /ready") { try await api.get("/ready").status == 200 }
        return try await body(api, await server.grpcAddress.value)
    }
}

/// Runs iam-auth-svc against the authz-svc under test, with the management token as its own.
public func withIAMAuth<T: Sendable>(
    authz: AuthzUnderTest,
    controller: ACLControllerSettings? = nil,
    ecsEndpoint: URL? = nil,
    catalogAddress: HostPort? = nil,
    awsEnvironment: [String: String] = [:],
    loginRate: Double = 50,
    _ body: @Sendable (TestAPI) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var host = HostSettings.loopback(name: "iam-auth-svc", database: database)
    host.drainTimeout = .seconds(1)
    host.leaderRetryInterval = .milliseconds(100)
    var config = IAMAuthConfig(host: host, authzAddress: ServiceAddress(authz.grpc), serviceToken: managementSecret)
    config.controller = controller
    config.ecsEndpoint = ecsEndpoint
    config.catalogAddress = catalogAddress.map(ServiceAddress.init)
    config.awsEnvironment = awsEnvironment
    config.loginRate = loginRate
    config.resolveTimeout = .seconds(30)
    let server = try IAMAuthServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        try await eventually("iam-auth-svc /ready") { try await api.get("/ready").status == 200 }
        return try await body(api)
    }
}

/// Runs ca-svc with ACLs enforced through the authz-svc under test; the body gets its gRPC address.
public func withCA<T: Sendable>(
    authz: AuthzUnderTest,
    csrRatePerToken: Double? = nil,
    _ body: @Sendable (HostPort) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var host = HostSettings.loopback(name: "ca-svc", database: database)
    host.drainTimeout = .seconds(1)
    var config = CAConfig(host: host, kek: .generate(), authzAddress: ServiceAddress(authz.grpc))
    if let csrRatePerToken { config.csrRatePerToken = csrRatePerToken }
    let server = try CAServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        try await eventually("ca-svc /ready") { try await api.get("/ready").status == 200 }
        return try await body(await server.grpcAddress.value)
    }
}

/// Runs a config-distributor replica following the services under test (its own token: management).
public func withDistributor<T: Sendable>(
    catalog: HostPort,
    authz: AuthzUnderTest,
    ca: HostPort,
    _ body: @Sendable (DistributorServer, HostPort) async throws -> T
) async throws -> T {
    var config = DistributorConfig(
        catalogAddress: ServiceAddress(catalog),
        authzAddress: ServiceAddress(authz.grpc),
        caAddress: ServiceAddress(ca),
        serviceToken: managementSecret
    )
    config.server.grpcAddress = HostPort(host: "127.0.0.1", port: 0)
    config.server.httpAddress = HostPort(host: "127.0.0.1", port: 0)
    config.server.drainTimeout = .seconds(1)
    config.resolveTimeout = .seconds(30)
    let server = DistributorServer(config: config, logger: testLogger)
    return try await withRunning([server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        try await eventually("config-distributor /ready") { try await api.get("/ready").status == 200 }
        return try await body(server, await server.grpcAddress.value)
    }
}
