import Agent
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MeshClient
import MeshRPC
import UnixSignals

/// mesh-agent: beside each application (an ECS sidecar container), logs in with the task's IAM
/// role, registers the application, and at shutdown deregisters it and logs out.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh-agent",
        abstract: "Log in, register the application, and deregister and log out at shutdown.",
        subcommands: [Init.self, Run.self]
    )
}

/// Where the API is and which instance this is: shared by `init` and `run`.
struct InstanceOptions: ParsableArguments {
    @Option(name: .customLong("http-addr"), help: "The mesh REST API (env CONSUL_HTTP_ADDR, default 127.0.0.1:8500).")
    var httpAddr: String?

    @Option(name: .customLong("service"), help: "The application's service name.")
    var service: String

    @Option(
        name: .customLong("service-id"),
        help: "The instance ID (default: the service name, or <service>-<task id> on ECS)."
    )
    var serviceID: String?

    @Option(name: .customLong("port"), help: "The application's port.")
    var port: Int

    @Option(name: .customLong("address"), help: "The instance's address (default 127.0.0.1).")
    var address: String = "127.0.0.1"

    @Option(name: .customLong("node"), help: "The catalog node the instance is on (default: the host name).")
    var node: String?

    @Option(name: .customLong("token-file"), help: "Where the token is kept for the proxy and for `run`.")
    var tokenFile: String

    var api: ConsulAPI {
        let environment = ProcessInfo.processInfo.environment
        return ConsulAPI(
            address: self.httpAddr ?? environment["CONSUL_HTTP_ADDR"] ?? environment["MESH_HTTP_ADDR"]
                ?? "127.0.0.1:8500"
        )
    }

    var instance: ServiceInstance {
        ServiceInstance(
            node: self.node ?? ProcessInfo.processInfo.hostName,
            address: self.address,
            service: self.service,
            serviceID: self.serviceID,
            port: self.port
        )
    }
}

extension AgentCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Log in (with --auth-method) or use --token, write the token file, register the instance."
        )

        @OptionGroup var instance: InstanceOptions

        @Option(name: .customLong("auth-method"), help: "Log in with this aws-iam auth method.")
        var authMethod: String?

        @Option(name: .customLong("token"), help: "Use this token instead of logging in (env CONSUL_HTTP_TOKEN).")
        var token: String?

        @Option(name: .customLong("aws-region"), help: "Region for STS (env AWS_REGION).")
        var awsRegion: String?

        @Option(name: .customLong("aws-sts-endpoint"), help: "The auth method's STSEndpoint, if not AWS's.")
        var stsEndpoint: String?

        @Option(name: .customLong("aws-iam-endpoint"), help: "The auth method's IAMEndpoint, if not AWS's.")
        var iamEndpoint: String?

        @Flag(name: .customLong("aws-include-entity"), help: "Embed the signed iam:GetRole (EnableIAMEntityDetails).")
        var includeEntity = false

        @Option(name: .customLong("aws-server-id-header-value"), help: "The auth method's ServerIDHeaderValue.")
        var serverIDHeaderValue: String?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            MeshLogging.bootstrap(environment: environment)
            let agent = Agent(api: self.instance.api, logger: Logger(label: "mesh-agent"))
            let token: String
            if let method = self.authMethod {
                let options = IAMLoginOptions(
                    region: self.awsRegion ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
                        ?? "us-east-1",
                    stsEndpoint: self.stsEndpoint.flatMap(URL.init(string:)),
                    iamEndpoint: self.iamEndpoint.flatMap(URL.init(string:)),
                    includeEntity: self.includeEntity,
                    serverIDHeaderValue: self.serverIDHeaderValue
                )
                token = try await agent.login(
                    method: method,
                    options: options,
                    environment: environment,
                    httpClient: .shared
                )
            } else if let given = self.token ?? environment["CONSUL_HTTP_TOKEN"] {
                token = given
            } else {
                throw ValidationError("give --auth-method to log in, or --token")
            }
            // The secret is written before registering, so that `run` can always clean up after us.
            guard
                FileManager.default.createFile(
                    atPath: self.instance.tokenFile,
                    contents: Data(token.utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else {
                throw AgentError("cannot write the token file \(self.instance.tokenFile)")
            }
            try await agent.register(self.instance.instance, token: token)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait for SIGTERM, then deregister the instance and log out (consul-ecs's graceful shutdown)."
        )

        @OptionGroup var instance: InstanceOptions

        @Flag(name: .customLong("no-logout"), help: "Keep the token (it was not made by a login).")
        var noLogout = false

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            MeshLogging.bootstrap(environment: environment)
            let logger = Logger(label: "mesh-agent")
            guard let text = try? String(contentsOfFile: self.instance.tokenFile, encoding: .utf8) else {
                throw AgentError("cannot read the token file \(self.instance.tokenFile)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            logger.info("running; deregisters and logs out on SIGTERM")
            for await _ in signals { break }
            try await Agent(api: self.instance.api, logger: logger).shutdown(
                self.instance.instance,
                token: token,
                logout: !self.noLogout
            )
        }
    }
}

/// Runs an async subcommand (the existential is opened so that the async `run` is chosen).
func runAsync<Command: AsyncParsableCommand>(_ command: Command) async throws {
    var command = command
    try await command.run()
}

do {
    var command = try AgentCommand.parseAsRoot()
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        try command.run()
    }
} catch let error as AgentError {
    FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
    exit(1)
} catch let error as ConsulAPIError {
    FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
    exit(1)
} catch {
    AgentCommand.exit(withError: error)
}
