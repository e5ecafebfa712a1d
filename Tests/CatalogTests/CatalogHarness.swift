import AsyncHTTPClient
import Catalog
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshNet
import MeshProto
import MeshRPC
import MeshStore
import MeshStoreHost
import MeshTesting
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import SwiftProtobuf
import Testing

/// A running catalog-svc replica inside the test process (real PostgreSQL, real sockets).
struct Replica: Sendable {
    let server: CatalogServer
    let http: HostPort
    let grpc: HostPort
}

let testLogger: Logger = {
    var logger = Logger(label: "mesh.catalog.test") { StreamLogHandler.standardError(label: $0) }
    let level = ProcessInfo.processInfo.environment["MESH_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .warning
    return logger
}()

/// A config for a test replica: ephemeral ports, fast leader retry and TTL sweeps.
func testConfig(_ database: DatabaseSettings) -> CatalogConfig {
    var database = database
    database.maximumConnections = 4  // many replicas run at once in one test cluster
    var host = HostSettings.loopback(name: "catalog-svc", database: database)
    host.leaderRetryInterval = .milliseconds(100)
    return CatalogConfig(host: host, reapInterval: .milliseconds(100))
}

/// Runs one replica on `database` for the duration of `body`, then stops it (cancellation).
func withReplica<T: Sendable>(
    database: DatabaseSettings,
    limits: ServerLimits = .default,
    _ body: @Sendable (Replica) async throws -> T
) async throws -> T {
    var config = testConfig(database)
    config.host.limits = limits
    config.host.drainTimeout = .seconds(1)
    config.host.advertiseAddress = "replica-\(UInt32.random(in: 0...UInt32.max))"
    let server = try CatalogServer(config: config, logger: testLogger)
    let lifecycle = ServiceGroup(configuration: .init(services: [server.postgres, server], logger: testLogger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await lifecycle.run() }
        testLogger.debug("replica starting", metadata: ["mesh.database": "\(database.database)"])
        let result: Result<T, any Error>
        do {
            testLogger.debug("awaiting ready", metadata: ["mesh.database": "\(database.database)"])
            guard await server.ready.value else { throw TestFailure("catalog-svc replica failed to start") }
            let replica = Replica(
                server: server,
                http: await server.httpAddress.value,
                grpc: await server.grpcAddress.value
            )
            result = .success(try await body(replica))
        } catch {
            result = .failure(error)
        }
        // Stop the way a task stops: graceful shutdown, then wait for every service to finish.
        testLogger.debug("replica body done", metadata: ["mesh.database": "\(database.database)"])
        await lifecycle.triggerGracefulShutdown()
        try await group.waitForAll()
        testLogger.debug("replica stopped", metadata: ["mesh.database": "\(database.database)"])
        return try result.get()
    }
}

/// A replica's server and lifecycle, for tests that stop replicas in any order.
func makeReplica(database: DatabaseSettings) throws -> (CatalogServer, ServiceGroup) {
    var config = testConfig(database)
    config.host.drainTimeout = .seconds(1)
    config.host.advertiseAddress = "replica-\(UInt32.random(in: 0...UInt32.max))"
    let server = try CatalogServer(config: config, logger: testLogger)
    return (server, ServiceGroup(configuration: .init(services: [server.postgres, server], logger: testLogger)))
}

/// A check body with a TTL, on instance `serviceID`.
func ttlCheck(_ id: String, serviceID: String, ttl: String) -> [String: Any] {
    ["CheckID": id, "Name": id, "ServiceID": serviceID, "Status": "passing", "Definition": ["TTL": ttl]]
}

/// A fresh database and one replica on it.
func withCatalogServer<T: Sendable>(_ body: @Sendable (Replica) async throws -> T) async throws -> T {
    let database = try await TestDatabase.fresh()
    return try await withReplica(database: database, body)
}

typealias API = TestAPI

extension TestAPI {
    /// Registers and expects success.
    func register(_ json: [String: Any]) async throws {
        let answer = try await self.put("/v1/catalog/register", json: json)
        guard answer.status == 200 else { throw TestFailure("register failed: \(answer.status) \(answer.text)") }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.totalNanoseconds)
    }
}

/// A registration body for one instance.
func instance(
    node: String,
    service: String,
    id: String? = nil,
    port: Int = 8080,
    tags: [String] = [],
    checks: [[String: Any]] = []
) -> [String: Any] {
    var body: [String: Any] = [
        "Node": node,
        "Address": "10.0.0.\(abs(node.hashValue) % 250 + 1)",
        "Service": ["Service": service, "ID": id ?? service, "Port": port, "Tags": tags] as [String: Any],
    ]
    if !checks.isEmpty { body["Checks"] = checks }
    return body
}

/// Runs `body` with a gRPC catalog client connected to `address`.
func withCatalogClient<T: Sendable>(
    _ address: HostPort,
    _ body: @Sendable (Mesh_V1_Catalog.Client<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
    try await withGRPCClient(
        transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: address.host, port: address.port),
            transportSecurity: .plaintext
        )
    ) { client in
        try await body(Mesh_V1_Catalog.Client(wrapping: client))
    }
}
