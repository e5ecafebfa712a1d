import ArgumentParser
import CA
import MeshProcess
import MeshServer
import MeshStoreHost

/// ca-svc: the mesh's certificate authority, behind gRPC (leaf signing) and Consul's CA REST API.
struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca-svc",
        abstract: "The mesh CA: SPIFFE leaf certificates from CSRs, roots and rotation (gRPC + Consul REST).",
        discussion: "Listens on 127.0.0.1:8506 (gRPC) and 127.0.0.1:8507 (REST) unless told otherwise."
    )

    @OptionGroup var host: HostOptions

    @Option(name: .customLong("kek-file"), help: "File with the base64 key-encryption key (or env MESH_CA_KEK).")
    var kekFile: String?

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

    func run() async throws {
        try await ServiceMain.run("ca-svc") { environment in
            try CAConfig.resolve(
                self.host.flags,
                kekFile: self.kekFile,
                authzAddr: self.authzAddr,
                datacenter: self.datacenter,
                maxLeafTTL: self.maxLeafTTL,
                csrRate: self.csrRate,
                csrRatePerToken: self.csrRatePerToken,
                environment: environment
            )
        } services: { config, logger in
            let server = try CAServer(config: config, logger: logger)
            return [server.postgres, server]
        }
    }
}

await CACommand.runAsMain()
