import ArgumentParser
import ConfigDistributor
import Foundation
import Logging
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// config-distributor: one config stream per proxy, computed from the catalog, intentions and roots.
struct DistributorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-distributor",
        abstract: "Streams each proxy its config (listeners, healthy upstreams, intentions, roots) and relays CSRs."
    )

    @Option(name: .customLong("catalog-addr"), help: "catalog-svc gRPC address; required (env MESH_CATALOG_ADDR).")
    var catalogAddr: String?

    @Option(name: .customLong("authz-addr"), help: "authz-svc gRPC address; required (env MESH_AUTHZ_ADDR).")
    var authzAddr: String?

    @Option(name: .customLong("ca-addr"), help: "ca-svc gRPC address; required (env MESH_CA_ADDR).")
    var caAddr: String?

    @Option(
        name: .customLong("acl-token"),
        help: "This service's token: service:read and intention:read on all (env MESH_ACL_TOKEN)."
    )
    var aclToken: String?

    @Option(
        name: .customLong("grpc-addr"),
        help: "gRPC listen address for proxies (env MESH_GRPC_ADDR, default 127.0.0.1:8503)."
    )
    var grpcAddr: String?

    @Option(
        name: .customLong("http-addr"),
        help: "/metrics and /ready address (env MESH_HTTP_ADDR, default 127.0.0.1:8504)."
    )
    var httpAddr: String?

    @Option(
        name: .customLong("datacenter"),
        help: "Datacenter of upstream identities (env MESH_DATACENTER, default dc1)."
    )
    var datacenter: String?

    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "config-distributor")
        var flags = DistributorConfig.Flags()
        flags.catalogAddr = self.catalogAddr
        flags.authzAddr = self.authzAddr
        flags.caAddr = self.caAddr
        flags.aclToken = self.aclToken
        flags.grpcAddr = self.grpcAddr
        flags.httpAddr = self.httpAddr
        flags.datacenter = self.datacenter
        flags.tls = self.tls.paths
        let config: DistributorConfig
        do {
            config = try DistributorConfig.resolve(flags, environment: environment)
        } catch {
            throw ValidationError("\(error)")
        }
        let server = DistributorServer(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

do {
    let command = try DistributorCommand.parse()
    try await command.run()
} catch {
    DistributorCommand.exit(withError: error)
}
