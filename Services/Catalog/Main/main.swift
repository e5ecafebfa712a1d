import ArgumentParser
import Catalog
import MeshProcess
import MeshServer
import MeshStoreHost

/// catalog-svc: services, instances and health, behind gRPC and Consul's REST API.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog-svc",
        abstract: "The mesh catalog: services, instances, health checks (gRPC + Consul-compatible REST).",
        discussion: "Listens on 127.0.0.1:8502 (gRPC) and 127.0.0.1:8500 (REST) unless told otherwise."
    )

    @OptionGroup var host: HostOptions

    @Option(name: .customLong("datacenter"), help: "Datacenter name (env MESH_DATACENTER, default dc1).")
    var datacenter: String?

    @Option(
        name: .customLong("authz-addr"),
        help: "authz-svc gRPC address; enables ACL enforcement (env MESH_AUTHZ_ADDR)."
    )
    var authzAddr: String?

    func run() async throws {
        try await ServiceMain.run("catalog-svc") { environment in
            try CatalogConfig.resolve(
                self.host.flags,
                datacenter: self.datacenter,
                authzAddr: self.authzAddr,
                environment: environment
            )
        } services: { config, logger in
            let server = try CatalogServer(config: config, logger: logger)
            return [server.postgres, server]
        }
    }
}

await CatalogCommand.runAsMain()
