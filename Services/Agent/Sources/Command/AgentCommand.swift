public import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MeshAgentAPI
import MeshClient
import MeshCore
import MeshProcess
import ServiceLifecycle
import UnixSignals

/// mesh-agent: beside each application (an ECS sidecar container), logs in with the task's IAM
/// role, registers the application, and at shutdown deregisters it and logs out.
public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mesh-agent",
        abstract: "Log in, register the application, and deregister and log out at shutdown.",
        subcommands: [Init.self, Run.self, Status.self]
    )

    public init() {}
}

extension AgentCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Log in (with --auth-method) or use --token, write the token file, register the instance."
        )

        @OptionGroup var instance: InstanceOptions

        @OptionGroup var login: LoginOptions

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            MeshLogging.bootstrap(environment: environment)
            let agent = Agent(api: self.instance.api(environment), logger: Logger(label: "mesh-agent"))
            try await self.login.initialize(self.instance, agent: agent, environment: environment)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sync ECS container health to the instance's check; at SIGTERM mark it critical, wait for "
                + "the app and proxy to exit, deregister and log out (consul-ecs's health sync and shutdown)."
        )

        @OptionGroup var instance: InstanceOptions

        @Flag(name: .customLong("no-logout"), help: "Keep the token (it was not made by a login).")
        var noLogout = false

        @Flag(
            name: .customLong("init"),
            help: "Do `init` first (log in, write the token file, register): one container."
        )
        var initFirst = false

        @OptionGroup var login: LoginOptions

        @Option(
            name: .customLong("health-sync-containers"),
            help: "Comma-separated containers whose Docker health decides the instance's (ECS)."
        )
        var healthSyncContainers: String = ""

        @Option(name: .customLong("agent-container"), help: "This agent's container name, not waited for at shutdown.")
        var agentContainer: String = "mesh-agent"

        @Option(name: .customLong("sync-interval"), help: "How often the task metadata is read (default 1s).")
        var syncInterval: String = "1s"

        @Option(name: .customLong("shutdown-timeout"), help: "How long to wait for the other containers (default 30s).")
        var shutdownTimeout: String = "30s"

        @Option(
            name: .customLong("api-addr"),
            help: "The local Consul agent API for the app (default 127.0.0.1:8500; \"off\": none)."
        )
        var apiAddr: String = "127.0.0.1:8500"

        func localAPI(
            instance: AppInstance,
            token: String,
            environment: [String: String],
            logger: Logger
        ) throws -> LocalAgentAPI? {
            guard self.apiAddr != "off" else { return nil }
            guard HostPort(parsing: self.apiAddr) != nil else {
                throw ValidationError("--api-addr: expected host:port or off, got \"\(self.apiAddr)\"")
            }
            return LocalAgentAPI(
                api: self.instance.api(environment),
                token: token,
                node: instance.localAgentNode,
                datacenter: self.instance.datacenter,
                leafIssuer: try self.instance.leafIssuer(),
                logger: logger
            )
        }

        @Option(
            name: .customLong("http-check"),
            help: "Off ECS: an HTTP URL whose 2xx answer keeps the instance passing."
        )
        var httpCheck: String?

        @Option(
            name: .customLong("tcp-check"),
            help: "Off ECS: a host:port whose accepting keeps the instance passing."
        )
        var tcpCheck: String?

        @Option(
            name: .customLong("grpc-check"),
            help: "Off ECS: a host:port[/service] whose gRPC health answers SERVING keeps the instance passing."
        )
        var grpcCheck: String?

        func localCheck() throws -> LocalCheck? {
            if let url = self.httpCheck { return .http(url) }
            if let target = self.grpcCheck {
                let check = GRPCHealthCheck(target: target)
                guard check.isValid else {
                    throw ValidationError("--grpc-check: expected host:port[/service], got \"\(target)\"")
                }
                return .grpc(check)
            }
            if let text = self.tcpCheck {
                guard let address = HostPort(parsing: text) else {
                    throw ValidationError("--tcp-check: expected host:port, got \"\(text)\"")
                }
                return .tcp(host: address.host, port: address.port)
            }
            return nil
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            MeshLogging.bootstrap(environment: environment)
            let logger = Logger(label: "mesh-agent")
            let agent = Agent(api: self.instance.api(environment), logger: logger)
            if self.initFirst {
                try await self.login.initialize(self.instance, agent: agent, environment: environment)
            }
            guard let text = try? String(contentsOfFile: self.instance.tokenFile, encoding: .utf8) else {
                throw AgentError("cannot read the token file \(self.instance.tokenFile)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let task = try await self.instance.task(environment)
            var instance = try self.instance.instance(task: task)
            let (health, ready) = try self.health(of: &instance, onECS: task != nil, environment: environment)
            guard let interval = GoDuration.parse(self.syncInterval),
                let timeout = GoDuration.parse(self.shutdownTimeout)
            else {
                throw ValidationError("--sync-interval and --shutdown-timeout take durations such as 1s")
            }
            let sync = HealthSync(
                agent: agent,
                instance: instance,
                token: token,
                interval: interval,
                shutdownTimeout: timeout,
                health: health
            )
            let run = AgentRun(
                sync: sync,
                localAPI: try self.localAPI(instance: instance, token: token, environment: environment, logger: logger),
                apiAddress: HostPort(parsing: self.apiAddr),
                logout: !self.noLogout,
                ready: ready,
                logger: logger
            )
            try await ServiceGroup(
                configuration: .init(services: [run], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            ).run()
        }

        /// What decides the instance's health, and the line logged once running. On ECS: the
        /// containers' Docker health, and at shutdown the other containers' exit. Off ECS: the
        /// local check (if any), and at shutdown the app's port refusing connections.
        private func health(
            of instance: inout AppInstance,
            onECS: Bool,
            environment: [String: String]
        ) throws -> (HealthSource, String) {
            if onECS {
                let source = HealthSource.ecs(
                    containers: self.healthSyncContainers.split(separator: ",").map(String.init),
                    ownContainers: [self.agentContainer]
                ) {
                    guard let task = try await ECSTaskMetadata.fetch(environment: environment, httpClient: .shared)
                    else {
                        throw AgentError("ECS_CONTAINER_METADATA_URI_V4 is not set")
                    }
                    return task
                }
                return (source, "running: syncing ECS health; on SIGTERM marks critical, deregisters and logs out")
            }
            let check = try self.localCheck()
            instance.checkName = check.map { "\($0)" } ?? "mesh-agent"
            return (
                .local(check: check, appPort: instance.port),
                "running; on SIGTERM marks the instance critical, waits for the app, deregisters"
            )
        }
    }
}

extension AgentCommand {
    /// The container health check: healthy once `init` has written the token file.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Exit 0 once the agent has logged in and registered.")

        @Option(name: .customLong("token-file"), help: "The token file `init` writes.")
        var tokenFile: String

        func run() throws {
            let text = (try? String(contentsOfFile: self.tokenFile, encoding: .utf8)) ?? ""
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ExitCode(1) }
        }
    }
}
