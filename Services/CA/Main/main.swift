import ArgumentParser
import CA
import Foundation
import Logging
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// ca-svc: the mesh's certificate authority, behind gRPC (leaf signing) and Consul's CA REST API.
struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca-svc",
        abstract: "The mesh CA: SPIFFE leaf certificates from CSRs, roots and rotation (gRPC + Consul REST)."
    )

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env MESH_DATABASE_URL, or PGHOST/PGPORT/...).")
    var databaseURL: String?

    @Option(name: .customLong("kek-file"), help: "File with the base64 key-encryption key (or env MESH_CA_KEK).")
    var kekFile: String?

    @Option(name: .customLong("grpc-addr"), help: "gRPC listen address (env MESH_GRPC_ADDR, default 127.0.0.1:8506).")
    var grpcAddr: String?

    @Option(name: .customLong("http-addr"), help: "REST listen address (env MESH_HTTP_ADDR, default 127.0.0.1:8507).")
    var httpAddr: String?

    @Option(name: .customLong("advertise-addr"), help: "Address shown to peers (env MESH_ADVERTISE_ADDR).")
    var advertiseAddr: String?

    @Option(name: .customLong("authz-addr"), help: "authz-svc gRPC address; enables ACLs (env MESH_AUTHZ_ADDR).")
    var authzAddr: String?

    @Option(name: .customLong("datacenter"), help: "Datacenter name (env MESH_DATACENTER, default dc1).")
    var datacenter: String?

    @Option(name: .customLong("max-leaf-ttl"), help: "Cap on leaf lifetimes (env MESH_CA_MAX_LEAF_TTL, default 168h).")
    var maxLeafTTL: String?

    @Option(
        name: .customLong("csr-rate"),
        help: "Leaves signed per second at most (env MESH_CA_CSR_RATE, default 10000)."
    )
    var csrRate: String?

    @Option(
        name: .customLong("csr-rate-per-token"),
        help: "Leaves signed per second for one token at most (env MESH_CA_CSR_RATE_PER_TOKEN, default 0.5)."
    )
    var csrRatePerToken: String?

    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "ca-svc")
        let config = try self.config(environment: environment)
        logger.info("ca-svc starting", metadata: ["mesh.database": "\(config.database)"])
        let server = try CAServer(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [server.postgres, server],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// The resolved settings; a bad or missing one becomes a usage error naming the flag.
    func config(environment: [String: String]) throws -> CAConfig {
        do {
            return try CAConfig.resolve(
                databaseURL: self.databaseURL,
                kekFile: self.kekFile,
                grpcAddr: self.grpcAddr,
                httpAddr: self.httpAddr,
                advertiseAddr: self.advertiseAddr,
                authzAddr: self.authzAddr,
                datacenter: self.datacenter,
                maxLeafTTL: self.maxLeafTTL,
                csrRate: self.csrRate,
                csrRatePerToken: self.csrRatePerToken,
                tls: self.tls.paths,
                environment: environment
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

do {
    let command = try CACommand.parse()
    try await command.run()
} catch {
    CACommand.exit(withError: error)
}
