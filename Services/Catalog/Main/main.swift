import ArgumentParser
import Catalog
import Foundation
import Logging
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// catalog-svc: services, instances and health, behind gRPC and Consul's REST API.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog-svc",
        abstract: "The mesh catalog: services, instances, health checks (gRPC + Consul-compatible REST)."
    )

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env MESH_DATABASE_URL, or PGHOST/PGPORT/...).")
    var databaseURL: String?

    @Option(name: .customLong("grpc-addr"), help: "gRPC listen address (env MESH_GRPC_ADDR, default 127.0.0.1:8502).")
    var grpcAddr: String?

    @Option(name: .customLong("http-addr"), help: "REST listen address (env MESH_HTTP_ADDR, default 127.0.0.1:8500).")
    var httpAddr: String?

    @Option(name: .customLong("datacenter"), help: "Datacenter name (env MESH_DATACENTER, default dc1).")
    var datacenter: String?

    @Option(name: .customLong("advertise-addr"), help: "Address shown to peers (env MESH_ADVERTISE_ADDR).")
    var advertiseAddr: String?

    @Option(
        name: .customLong("authz-addr"),
        help: "authz-svc gRPC address; enables ACL enforcement (env MESH_AUTHZ_ADDR)."
    )
    var authzAddr: String?

    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "catalog-svc")
        let config = try self.config(environment: environment)
        logger.info("catalog-svc starting", metadata: ["mesh.database": "\(config.database)"])
        let server = try CatalogServer(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [server.postgres, server],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// The resolved settings; a bad one becomes a usage error naming the flag and the variable.
    func config(environment: [String: String]) throws -> CatalogConfig {
        do {
            return try CatalogConfig.resolve(
                databaseURL: self.databaseURL,
                grpcAddr: self.grpcAddr,
                httpAddr: self.httpAddr,
                datacenter: self.datacenter,
                advertiseAddr: self.advertiseAddr,
                authzAddr: self.authzAddr,
                tls: self.tls.paths,
                environment: environment
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

do {
    let command = try CatalogCommand.parse()
    try await command.run()
} catch {
    CatalogCommand.exit(withError: error)
}
