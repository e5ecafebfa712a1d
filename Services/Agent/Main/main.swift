import Agent
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MeshClient
import MeshCore
import MeshRPC
import ServiceLifecycle
import UnixSignals

/// mesh-agent: beside each application (an ECS sidecar container), logs in with the task's IAM
/// role, registers the application, and at shutdown deregisters it and logs out.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh-agent",
        abstract: "Log in, register the application, and deregister and log out at shutdown.",
        subcommands: [Init.self, Run.self, Status.self]
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

    @Option(
        name: .customLong("address"),
        help: "The instance's address (default: the task's IP on ECS, else 127.0.0.1)."
    )
    var address: String?

    @Option(name: .customLong("node"), help: "The catalog node (default: the cluster ARN on ECS, else the host name).")
    var node: String?

    @Option(name: .customLong("token-file"), help: "Where the token is kept for the proxy and for `run`.")
    var tokenFile: String

    @Option(name: .customLong("proxy-port"), help: "mesh-proxy's public listener, registered as the sidecar (21000).")
    var proxyPort: Int = 21000

    @Option(
        name: .customLong("upstream"),
        help: "A service the app calls through the proxy, as service:local-port (repeatable)."
    )
    var upstream: [String] = []

    @Option(
        name: .customLong("liveness-ttl"),
        help: "TTL of the agent-liveness check kept passing by `run` (default 10s; 0 for none)."
    )
    var livenessTTL: String = "10s"

    @Option(
        name: .customLong("proxy-bootstrap-file"),
        help: "Write mesh-proxy's dynamic-mode bootstrap here (with --distributor-addr)."
    )
    var proxyBootstrapFile: String?

    @Option(name: .customLong("distributor-addr"), help: "config-distributor gRPC address, for the proxy's bootstrap.")
    var distributorAddr: String?

    @Option(name: .customLong("distributor-ca-file"), help: "CA of the distributor's TLS certificate, for the proxy.")
    var distributorCAFile: String?

    @Option(name: .customLong("datacenter"), help: "Datacenter of the proxy's identity (default dc1).")
    var datacenter: String = "dc1"

    @Option(name: .customLong("proxy-admin-addr"), help: "The proxy's admin listener (default 127.0.0.1:19000).")
    var proxyAdminAddr: String?

    /// The bootstrap mesh-proxy's `run` reads (see the proxy's `DynamicBootstrap`); the token stays in its own file.
    func proxyBootstrap(for instance: AppInstance) -> Data? {
        guard let distributor = self.distributorAddr else { return nil }
        var bootstrap: [String: String] = [
            "distributorAddr": distributor, "proxyID": instance.sidecarID, "service": instance.service,
            "tokenFile": self.tokenFile, "datacenter": self.datacenter,
        ]
        bootstrap["distributorCAFile"] = self.distributorCAFile
        bootstrap["adminAddr"] = self.proxyAdminAddr
        return try? JSONSerialization.data(withJSONObject: bootstrap, options: [.sortedKeys, .prettyPrinted])
    }

    /// The leaf issuer of the local API: the distributor's `SignLeaf`, when a distributor is known.
    func leafIssuer() throws -> LeafIssuer? {
        guard let text = self.distributorAddr else { return nil }
        // One address (a balancer's), or the replicas' addresses separated by commas.
        let replicas = text.split(separator: ",").map { HostPort(parsing: String($0)) }
        guard !replicas.isEmpty, !replicas.contains(where: { $0 == nil }) else {
            throw ValidationError("--distributor-addr: expected host:port[,host:port...], got \"\(text)\"")
        }
        var caPEM: String?
        if let path = self.distributorCAFile {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--distributor-ca-file: cannot read \(path)")
            }
            caPEM = pem
        }
        return try LeafIssuer(
            distributors: replicas.compactMap { $0.map { (host: $0.host, port: $0.port) } },
            distributorCAPEM: caPEM,
            datacenter: self.datacenter
        )
    }

    func liveness() throws -> Duration? {
        guard let ttl = GoDuration.parse(self.livenessTTL) else {
            throw ValidationError("--liveness-ttl: expected a duration such as 10s, got \"\(self.livenessTTL)\"")
        }
        return ttl > .zero ? ttl : nil
    }

    func upstreams() throws -> [UpstreamPort] {
        try self.upstream.map { text in
            guard let upstream = UpstreamPort(parsing: text) else {
                throw ValidationError("--upstream: expected service:port, got \"\(text)\"")
            }
            return upstream
        }
    }

    var api: ConsulAPI {
        let environment = ProcessInfo.processInfo.environment
        return ConsulAPI(
            address: self.httpAddr ?? environment["CONSUL_HTTP_ADDR"] ?? environment["MESH_HTTP_ADDR"]
                ?? "127.0.0.1:8500"
        )
    }

    /// The instance: on ECS from the task metadata (cluster ARN as node, task ARN as ID, the
    /// task's IP), flags overriding; elsewhere from the flags.
    func instance(task: ECSTaskMetadata?) throws -> AppInstance {
        guard let task else {
            var instance = AppInstance(
                node: self.node ?? ProcessInfo.processInfo.hostName,
                address: self.address ?? "127.0.0.1",
                service: self.service,
                serviceID: self.serviceID,
                port: self.port
            )
            instance.proxyPort = self.proxyPort
            instance.upstreams = try self.upstreams()
            instance.livenessTTL = try self.liveness()
            return instance
        }
        var instance = try AppInstance.onECS(task, service: self.service, port: self.port)
        instance.proxyPort = self.proxyPort
        instance.upstreams = try self.upstreams()
        instance.livenessTTL = try self.liveness()
        if let node = self.node { instance.node = node }
        if let address = self.address { instance.address = address }
        if let id = self.serviceID { instance.serviceID = id }
        return instance
    }

    /// The task metadata when on ECS.
    func task() async throws -> ECSTaskMetadata? {
        try await ECSTaskMetadata.fetch(environment: ProcessInfo.processInfo.environment, httpClient: .shared)
    }
}

/// How `init` gets its token: a login with an aws-iam auth method, or a given token.
struct LoginOptions: ParsableArguments {
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

    /// Logs in (or takes the given token), writes the token file, and registers the instance.
    func initialize(_ instance: InstanceOptions, agent: Agent, environment: [String: String]) async throws {
        let token: String
        if let method = self.authMethod {
            let options = IAMLoginOptions(
                region: self.awsRegion ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
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
                atPath: instance.tokenFile,
                contents: Data(token.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw AgentError("cannot write the token file \(instance.tokenFile)")
        }
        let registered = try instance.instance(task: try await instance.task())
        if let path = instance.proxyBootstrapFile {
            guard let bootstrap = instance.proxyBootstrap(for: registered) else {
                throw ValidationError("--proxy-bootstrap-file needs --distributor-addr")
            }
            guard FileManager.default.createFile(atPath: path, contents: bootstrap) else {
                throw AgentError("cannot write the proxy bootstrap file \(path)")
            }
        }
        try await agent.register(registered, token: token)
    }
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
            let agent = Agent(api: self.instance.api, logger: Logger(label: "mesh-agent"))
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

        func localAPI(instance: AppInstance, token: String, logger: Logger) throws -> LocalAgentAPI? {
            guard self.apiAddr != "off" else { return nil }
            guard HostPort(parsing: self.apiAddr) != nil else {
                throw ValidationError("--api-addr: expected host:port or off, got \"\(self.apiAddr)\"")
            }
            return LocalAgentAPI(
                api: self.instance.api,
                token: token,
                instance: instance,
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

        func localCheck() throws -> LocalCheck? {
            if let url = self.httpCheck { return .http(url) }
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
            if self.initFirst {
                try await self.login.initialize(
                    self.instance,
                    agent: Agent(api: self.instance.api, logger: logger),
                    environment: environment
                )
            }
            guard let text = try? String(contentsOfFile: self.instance.tokenFile, encoding: .utf8) else {
                throw AgentError("cannot read the token file \(self.instance.tokenFile)")
            }
            guard let interval = GoDuration.parse(self.syncInterval),
                let timeout = GoDuration.parse(self.shutdownTimeout)
            else {
                throw ValidationError("--sync-interval and --shutdown-timeout take durations such as 1s")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let agent = Agent(api: self.instance.api, logger: logger)
            let instance: AppInstance
            let sync: HealthSync
            let ready: String
            if let task = try await self.instance.task() {
                instance = try self.instance.instance(task: task)
                sync = HealthSync(
                    agent: agent,
                    instance: instance,
                    token: token,
                    containers: self.healthSyncContainers.split(separator: ",").map(String.init),
                    ownContainers: [self.agentContainer],
                    interval: interval,
                    shutdownTimeout: timeout
                ) {
                    guard let task = try await ECSTaskMetadata.fetch(environment: environment, httpClient: .shared)
                    else {
                        throw AgentError("ECS_CONTAINER_METADATA_URI_V4 is not set")
                    }
                    return task
                }
                ready = "running: syncing ECS health; on SIGTERM marks critical, deregisters and logs out"
            } else {
                // Off ECS: the local check (if any) keeps the instance's status; at SIGTERM the
                // same order as on ECS, with "the app has exited" read as "its port refuses".
                var local = try self.instance.instance(task: nil)
                let check = try self.localCheck()
                local.checkName = check.map { "\($0)" } ?? "mesh-agent"
                instance = local
                let appPort = local.port
                sync = HealthSync(
                    agent: agent,
                    instance: local,
                    token: token,
                    interval: interval,
                    shutdownTimeout: timeout,
                    probe: { await check?.run() ?? (.passing, "mesh-agent is running") },
                    othersStopped: { await !LocalCheck.accepts(host: "127.0.0.1", port: appPort) }
                )
                ready = "running; on SIGTERM marks the instance critical, waits for the app, deregisters"
            }
            let run = AgentRun(
                sync: sync,
                localAPI: try self.localAPI(instance: instance, token: token, logger: logger),
                apiAddress: HostPort(parsing: self.apiAddr),
                logout: !self.noLogout,
                ready: ready,
                logger: logger
            )
            try await ServiceGroup(
                configuration: .init(services: [run], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            ).run()
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
