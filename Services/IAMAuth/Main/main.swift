import ArgumentParser
import IAMAuth
import MeshProcess
import MeshServer
import MeshStoreHost

/// iam-auth-svc: Consul's `aws-iam` auth method, binding rules, login and logout, and the ACL
/// controller that deletes the tokens of stopped ECS tasks.
struct IAMAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-auth-svc",
        abstract: "AWS IAM login for workloads (Consul's aws-iam auth method) and the ECS ACL controller.",
        discussion: "Listens on 127.0.0.1:8508 (gRPC) and 127.0.0.1:8509 (REST) unless told otherwise."
    )

    @OptionGroup var host: HostOptions

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

    func run() async throws {
        try await ServiceMain.run("iam-auth-svc") { environment in
            try IAMAuthConfig.resolve(self.flags, environment: environment)
        } services: { config, logger in
            let server = try IAMAuthServer(config: config, logger: logger)
            return [server.postgres, server]
        }
    }

    var flags: IAMAuthConfig.Flags {
        var flags = IAMAuthConfig.Flags()
        flags.host = self.host.flags
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
        return flags
    }
}

await IAMAuthCommand.runAsMain()
