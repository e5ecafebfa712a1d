import ArgumentParser
import Authz
import Foundation
import Logging
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// authz-svc: ACL tokens, policies, roles and intentions, behind gRPC and Consul's REST API.
struct AuthzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authz-svc",
        abstract: "The mesh's ACL system and intentions (gRPC + Consul-compatible REST)."
    )

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env MESH_DATABASE_URL, or PGHOST/PGPORT/...).")
    var databaseURL: String?

    @Option(name: .customLong("grpc-addr"), help: "gRPC listen address (env MESH_GRPC_ADDR, default 127.0.0.1:8504).")
    var grpcAddr: String?

    @Option(name: .customLong("http-addr"), help: "REST listen address (env MESH_HTTP_ADDR, default 127.0.0.1:8505).")
    var httpAddr: String?

    @Option(name: .customLong("advertise-addr"), help: "Address shown to peers (env MESH_ADVERTISE_ADDR).")
    var advertiseAddr: String?

    @Option(
        name: .customLong("default-policy"),
        help: "allow or deny when no rule matches (env MESH_ACL_DEFAULT_POLICY, default deny)."
    )
    var defaultPolicy: String?

    @Option(
        name: .customLong("initial-management-token"),
        help: "Secret of a management token to create at start (env MESH_ACL_INITIAL_MANAGEMENT_TOKEN)."
    )
    var initialManagementToken: String?

    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "authz-svc")
        let config = try self.config(environment: environment)
        logger.info(
            "authz-svc starting",
            metadata: ["mesh.database": "\(config.database)", "mesh.default_policy": "\(config.defaultPolicy)"]
        )
        let server = try AuthzServer(config: config, logger: logger)
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
    func config(environment: [String: String]) throws -> AuthzConfig {
        do {
            return try AuthzConfig.resolve(
                databaseURL: self.databaseURL,
                grpcAddr: self.grpcAddr,
                httpAddr: self.httpAddr,
                advertiseAddr: self.advertiseAddr,
                defaultPolicy: self.defaultPolicy,
                initialManagementToken: self.initialManagementToken,
                tls: self.tls.paths,
                environment: environment
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

do {
    let command = try AuthzCommand.parse()
    try await command.run()
} catch {
    AuthzCommand.exit(withError: error)
}
