import ArgumentParser
import ConfigDistributor
import MeshProcess
import MeshRPC
import MeshServer

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
        try await ServiceMain.run("config-distributor") { environment in
            var flags = DistributorConfig.Flags()
            flags.catalogAddr = self.catalogAddr
            flags.authzAddr = self.authzAddr
            flags.caAddr = self.caAddr
            flags.aclToken = self.aclToken
            flags.grpcAddr = self.grpcAddr
            flags.httpAddr = self.httpAddr
            flags.datacenter = self.datacenter
            flags.tls = self.tls.paths
            return try DistributorConfig.resolve(flags, environment: environment)
        } services: { config, logger in
            [DistributorServer(config: config, logger: logger)]
        }
    }
}

await DistributorCommand.runAsMain()
