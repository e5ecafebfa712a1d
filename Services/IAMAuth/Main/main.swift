import ArgumentParser
import Foundation
import IAMAuth
import Logging
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// iam-auth-svc: Consul's `aws-iam` auth method, binding rules, login and logout, and the ACL
/// controller that deletes the tokens of stopped ECS tasks.
struct IAMAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-auth-svc",
        abstract: "AWS IAM login for workloads (Consul's aws-iam auth method) and the ECS ACL controller."
    )

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env MESH_DATABASE_URL, or PGHOST/PGPORT/...).")
    var databaseURL: String?

    @Option(name: .customLong("grpc-addr"), help: "gRPC listen address (env MESH_GRPC_ADDR, default 127.0.0.1:8508).")
    var grpcAddr: String?

    @Option(name: .customLong("http-addr"), help: "REST listen address (env MESH_HTTP_ADDR, default 127.0.0.1:8509).")
    var httpAddr: String?

    @Option(name: .customLong("advertise-addr"), help: "Address shown to peers (env MESH_ADVERTISE_ADDR).")
    var advertiseAddr: String?

    @Option(name: .customLong("authz-addr"), help: "authz-svc gRPC address; required (env MESH_AUTHZ_ADDR).")
    var authzAddr: String?

    @Option(name: .customLong("acl-token"), help: "This service's token, with acl:write (env MESH_ACL_TOKEN).")
    var aclToken: String?

    @Option(name: .customLong("datacenter"), help: "Datacenter of bound node identities (env MESH_DATACENTER).")
    var datacenter: String?

    @Option(
        name: .customLong("ecs-cluster"),
        help: "Run the ACL controller for this ECS cluster (env MESH_ECS_CLUSTER)."
    )
    var ecsCluster: String?

    @Option(
        name: .customLong("bound-iam-principal-arn"),
        help: "Principals the controller's auth method trusts, comma-separated (env MESH_IAM_BOUND_ARNS)."
    )
    var boundARNs: String?

    @Option(name: .customLong("auth-method"), help: "The controller's auth method (default iam-ecs-service-token).")
    var authMethod: String?

    @Option(name: .customLong("aws-region"), help: "AWS region (env AWS_REGION, default us-east-1).")
    var awsRegion: String?

    @Option(name: .customLong("ecs-endpoint"), help: "ECS API endpoint override (env MESH_ECS_ENDPOINT).")
    var ecsEndpoint: String?

    @Option(name: .customLong("sts-endpoint"), help: "STSEndpoint of the controller's auth method.")
    var stsEndpoint: String?

    @Option(name: .customLong("iam-endpoint"), help: "IAMEndpoint of the controller's auth method.")
    var iamEndpoint: String?

    @Option(name: .customLong("server-id-header-value"), help: "ServerIDHeaderValue of the controller's method.")
    var serverIDHeaderValue: String?

    @Option(name: .customLong("controller-interval"), help: "How often stopped tasks' tokens are swept (default 10s).")
    var controllerInterval: String?

    @Option(
        name: .customLong("max-token-ttl"),
        help: "MaxTokenTTL of the controller's method (env MESH_IAM_MAX_TOKEN_TTL)."
    )
    var maxTokenTTL: String?

    @Option(name: .customLong("catalog-addr"), help: "catalog-svc gRPC, where the cluster's node is registered.")
    var catalogAddr: String?

    @Option(
        name: .customLong("login-rate"),
        help: "Logins verified with AWS per second at most (env MESH_IAM_LOGIN_RATE, default 50)."
    )
    var loginRate: String?

    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "iam-auth-svc")
        let config: IAMAuthConfig
        do {
            config = try IAMAuthConfig.resolve(self.flags, environment: environment)
        } catch {
            throw ValidationError("\(error)")
        }
        logger.info("iam-auth-svc starting", metadata: ["mesh.database": "\(config.database)"])
        let server = try IAMAuthServer(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [server.postgres, server],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    var flags: IAMAuthConfig.Flags {
        var flags = IAMAuthConfig.Flags()
        flags.databaseURL = self.databaseURL
        flags.grpcAddr = self.grpcAddr
        flags.httpAddr = self.httpAddr
        flags.advertiseAddr = self.advertiseAddr
        flags.authzAddr = self.authzAddr
        flags.aclToken = self.aclToken
        flags.datacenter = self.datacenter
        flags.ecsCluster = self.ecsCluster
        flags.boundARNs = self.boundARNs
        flags.authMethod = self.authMethod
        flags.awsRegion = self.awsRegion
        flags.ecsEndpoint = self.ecsEndpoint
        flags.stsEndpoint = self.stsEndpoint
        flags.iamEndpoint = self.iamEndpoint
        flags.serverIDHeaderValue = self.serverIDHeaderValue
        flags.controllerInterval = self.controllerInterval
        flags.maxTokenTTL = self.maxTokenTTL
        flags.catalogAddr = self.catalogAddr
        flags.loginRate = self.loginRate
        flags.tls = self.tls.paths
        return flags
    }
}

do {
    let command = try IAMAuthCommand.parse()
    try await command.run()
} catch {
    IAMAuthCommand.exit(withError: error)
}
