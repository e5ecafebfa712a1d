import Authz
import CA
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshStore
import MeshStoreHost
import MeshTLS
import MeshTesting
import ServiceLifecycle
import SwiftProtobuf

let testLogger: Logger = {
    var logger = Logger(label: "mesh.ca.test") { StreamLogHandler.standardError(label: $0) }
    let level = ProcessInfo.processInfo.environment["MESH_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .warning
    return logger
}()

let managementSecret = "0c8d1f2e-5a6b-4c7d-8e9f-a0b1c2d3e4f5"

/// authz-svc and ca-svc running in the test process on one fresh database, ACLs on.
struct Cluster: Sendable {
    let database: DatabaseSettings
    let authz: TestAPI
    let ca: TestAPI
    let caGRPC: HostPort
}

func withCluster<T: Sendable>(
    kek: KeyEncryptionKey = .generate(),
    _ body: @Sendable (Cluster) async throws -> T
)
    async throws -> T
{
    var fresh = try await TestDatabase.fresh()
    fresh.maximumConnections = 4
    let database = fresh
    var authzHost = HostSettings.loopback(name: "authz-svc", database: database)
    authzHost.drainTimeout = .seconds(1)
    let authzConfig = AuthzConfig(host: authzHost, initialManagementToken: managementSecret)
    let authz = try AuthzServer(config: authzConfig, logger: testLogger)
    return try await withRunning([authz.postgres, authz], logger: testLogger, ready: { await authz.ready.value }) {
        var host = HostSettings.loopback(name: "ca-svc", database: database)
        host.drainTimeout = .seconds(1)
        let config = CAConfig(host: host, kek: kek, authzAddress: ServiceAddress(await authz.grpcAddress.value))
        let ca = try CAServer(config: config, logger: testLogger)
        return try await withRunning([ca.postgres, ca], logger: testLogger, ready: { await ca.ready.value }) {
            let caAPI = TestAPI(await ca.httpAddress.value)
            try await eventually("ca-svc /ready") { try await caAPI.get("/ready").status == 200 }
            return try await body(
                Cluster(
                    database: database,
                    authz: TestAPI(await authz.httpAddress.value, token: managementSecret),
                    ca: caAPI,
                    caGRPC: await ca.grpcAddress.value
                )
            )
        }
    }
}

/// Signs a CSR over gRPC with `token` in the metadata.
func sign(_ csrPEM: String, token: String?, at address: HostPort) async throws -> Mesh_V1_SignResponse {
    try await withGRPCClient(
        transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: address.host, port: address.port),
            transportSecurity: .plaintext
        )
    ) { client in
        var metadata: Metadata = [:]
        if let token { metadata.addString(token, forKey: "x-consul-token") }
        return try await Mesh_V1_CA.Client(wrapping: client).sign(.with { $0.csrPem = csrPEM }, metadata: metadata)
    }
}

/// Runs openssl; returns its status and output.
func openssl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    let output = NSTemporaryDirectory() + "ca-openssl-\(UInt32.random(in: 0...UInt32.max)).log"
    defer { unlink(output) }
    let child = try Spawned.launch("/usr/bin/openssl", arguments, outputPath: output)
    let status = try await child.waitForExit()
    return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

/// Writes `text` to a new temporary file and returns its path.
func temporaryFile(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "ca-test-\(UInt32.random(in: 0...UInt32.max)).pem"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
