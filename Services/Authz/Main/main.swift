import ArgumentParser
import Authz
import Logging
import MeshCore
import MeshProcess
import MeshServer
import MeshStoreHost

/// authz-svc: ACL tokens, policies, roles and intentions, behind gRPC and Consul's REST API.
struct AuthzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authz-svc",
        abstract: "The mesh's ACL system and intentions (gRPC + Consul-compatible REST).",
        discussion: "Listens on 127.0.0.1:8504 (gRPC) and 127.0.0.1:8505 (REST) unless told otherwise."
    )

    @OptionGroup var host: HostOptions

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

    func run() async throws {
        try await ServiceMain.run("authz-svc") { environment in
            try AuthzConfig.resolve(
                self.host.flags,
                defaultPolicy: self.defaultPolicy,
                initialManagementToken: self.initialManagementToken,
                environment: environment
            )
        } services: { config, logger in
            logger.info("ACL default policy", metadata: [LogKey.defaultPolicy: "\(config.defaultPolicy)"])
            let server = try AuthzServer(config: config, logger: logger)
            return [server.postgres, server]
        }
    }
}

await AuthzCommand.runAsMain()
