public import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MeshAgentAPI
import MeshClient
import MeshCore
import MeshLocal
import MeshNet
import MeshRPC
import MeshServer
import MeshStore
import MeshTLS
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `meshctl dev`: the whole control plane on one machine, on a private PostgreSQL.
///
/// Starts an ephemeral PostgreSQL (initdb into a temporary directory, a free loopback port),
/// then every control-plane service that exists, each as its own child process on free loopback
/// ports, and one REST address in front of them that routes by path (`DevGateway`). ACLs are on
/// with default deny, as a production cluster should run; the initial management token is
/// printed (or taken from `--initial-management-token`). Ctrl-C or SIGTERM stops every child by
/// PID and removes the directory.
public struct DevCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the mesh control plane locally on a private PostgreSQL."
    )

    @Option(name: .customLong("http-addr"), help: "Address of the Consul-compatible REST API.")
    var httpAddr: String = "127.0.0.1:8500"

    @Option(
        name: .customLong("initial-management-token"),
        help: "Secret of the initial management token (default: a new random one, printed)."
    )
    var initialManagementToken: String?

    @Option(name: .customLong("default-policy"), help: "ACL default policy: deny (default) or allow.")
    var defaultPolicy: String = "deny"

    @Flag(
        name: .customLong("demo"),
        help: "Also run the walkthrough: http-server x3 and http-client, each with mesh-agent and mesh-proxy."
    )
    var demo = false

    @Option(
        name: .customLong("replicas"),
        help: "Replicas of each control-plane service (1-5), as an ECS service's desired count."
    )
    var replicas: Int = 1

    public init() {}

    public func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: "meshctl.dev")
        guard let http = HostPort(parsing: self.httpAddr) else {
            throw CLIError("--http-addr: expected host:port, got \"\(self.httpAddr)\"")
        }
        guard http.isLoopback else {
            throw CLIError("--http-addr: meshctl dev serves plain HTTP on loopback only (127.0.0.1, ::1)")
        }
        guard (1...5).contains(self.replicas) else {
            throw CLIError("--replicas: 1 to 5, not \(self.replicas)")
        }
        guard self.defaultPolicy == "allow" || self.defaultPolicy == "deny" else {
            throw CLIError("--default-policy: use allow or deny, not \"\(self.defaultPolicy)\"")
        }
        let token = self.initialManagementToken ?? UUID().uuidString.lowercased()
        // Trapped before anything starts: a SIGTERM or Ctrl-C while PostgreSQL and the services
        // come up is acted on once they are up, and stops them all, instead of killing this
        // process and leaving them running.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let postgres: EphemeralPostgres
        do {
            postgres = try EphemeralPostgres.start(logger: logger)
        } catch {
            throw CLIError("\(error)")
        }
        defer { postgres.stop() }
        let database = try await postgres.createDatabase(prefix: "mesh", logger: logger)
        Console.line(
            "meshctl dev: PostgreSQL on \(postgres.settings.host):\(postgres.settings.port) (pid \(postgres.pid))"
        )
        // A private CA and a certificate for each service, naming it: the local mesh runs on TLS
        // too, and each service checks that a peer is the one it dialled.
        let tls = try ControlPlaneCertificates.write(
            into: postgres.directory.path + "-tls",
            caName: "meshctl dev CA",
            dnsNames: ["localhost"],
            ipAddresses: ["127.0.0.1", "::1"],
            keepCAKey: false
        )
        defer { try? FileManager.default.removeItem(atPath: postgres.directory.path + "-tls") }
        // The demo's logs and its agents' token files: private to this run, gone with it.
        defer { try? FileManager.default.removeItem(atPath: postgres.directory.path + "-demo") }
        var childEnvironment = environment
        childEnvironment["MESH_DATABASE_URL"] = database.url
        // The gateway's client: it relays blocking queries (each holds a connection for up to 10
        // minutes; the web UI keeps a few open per page), so it may hold many per service, and
        // passes redirects on rather than following them. With replicas, a refused connection fails
        // at once, and the gateway tries the next replica.
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPRelay.clientConfiguration(
                .init(tlsConfiguration: try tls.files(for: .catalog).httpsClientConfiguration()),
                retryConnecting: self.replicas == 1
            )
        )
        let children = ChildSet(client: client, certificates: tls)
        // The client must be shut down on every path (AsyncHTTPClient traps otherwise), and
        // beginning just before the services' SIGTERM: a TLS connection closes fast only when
        // both ends take part, and otherwise one side waits NIOSSL's 5 s for the other's
        // close_notify (the services did for the client's idle keep-alive connections when they
        // stopped first; the client did for a connection whose request a service was still
        // answering when it stopped first).
        let stopEverything = { @Sendable () async in
            async let clientDown: Void = { try? await client.shutdown() }()
            children.terminateAll()
            await clientDown
            children.stopAll()
        }
        do {
            Console.line("meshctl dev: TLS on every service (dev CA \(tls.caPath))")

            let count = self.replicas
            let authz = try DevService.replicas(.authz, count: count)
            var authzEnvironment = childEnvironment
            authzEnvironment["MESH_ACL_INITIAL_MANAGEMENT_TOKEN"] = token
            authzEnvironment["MESH_ACL_DEFAULT_POLICY"] = self.defaultPolicy
            try await children.start(authz, arguments: [], environment: authzEnvironment)
            let authzGRPC = authz.grpc.description

            let catalog = try DevService.replicas(.catalog, count: count)
            try await children.start(catalog, arguments: ["--authz-addr", authzGRPC], environment: childEnvironment)

            // The CA's key-encryption key lives only in this process and the children's environment.
            let ca = try DevService.replicas(.ca, count: count)
            var caEnvironment = childEnvironment
            caEnvironment["MESH_CA_KEK"] = Self.newKEK()
            try await children.start(ca, arguments: ["--authz-addr", authzGRPC], environment: caEnvironment)

            // iam-auth-svc mints login tokens with a token of its own; in dev, the management token.
            let iamAuth = try DevService.replicas(.iamAuth, count: count)
            var iamEnvironment = childEnvironment
            iamEnvironment["MESH_ACL_TOKEN"] = token
            try await children.start(iamAuth, arguments: ["--authz-addr", authzGRPC], environment: iamEnvironment)

            // Proxies' config streams; it follows the others with the management token in dev.
            let distributor = try DevService.replicas(.distributor, count: count)
            var distributorEnvironment = childEnvironment
            distributorEnvironment["MESH_ACL_TOKEN"] = token
            try await children.start(
                distributor,
                arguments: [
                    "--catalog-addr", catalog.grpc.description, "--authz-addr", authzGRPC,
                    "--ca-addr", ca.grpc.description,
                ],
                environment: distributorEnvironment
            )

            // The Consul agent API of the dev node, as a Consul dev agent serves it beside the
            // catalog: /v1/agent/... on the same REST address (on its own loopback port behind it).
            let localAgent = HostPort(host: "127.0.0.1", port: try FreePort.pick())
            let agentAPI = LocalAgentAPI(
                api: ConsulAPI(address: http.description),
                token: token,
                node: LocalAgentNode(name: ProcessInfo.processInfo.hostName, address: "127.0.0.1"),
                datacenter: "dc1",
                leafIssuer: try LeafIssuer(
                    distributors: distributor.grpc.pairs,
                    distributorCAPEM: try String(contentsOfFile: tls.caPath, encoding: .utf8),
                    datacenter: "dc1"
                ),
                sessionAPI: ConsulAPI(address: "https://\(catalog.http.first)", httpClient: client),
                logger: logger
            )
            let gateway = DevGateway(
                address: http,
                catalog: catalog.http,
                authz: authz.http,
                ca: ca.http,
                iamAuth: iamAuth.http,
                localAgent: localAgent,
                agentAPI: agentAPI,
                client: client,
                logger: logger
            )
            let agentUp = Rendezvous<Bool>()
            let policy = self.defaultPolicy
            let gatewayUp = Rendezvous<Bool>()
            let demo =
                self.demo
                ? DevDemo(
                    children: children,
                    gateway: http,
                    distributor: distributor.grpc,
                    caPath: tls.caPath,
                    token: token,
                    directory: postgres.directory.path + "-demo"
                ) : nil
            // Set once a signal asked to stop: what ends from then on ends as asked.
            let stopping = Rendezvous<Bool>()
            // The dev node's agent API and the REST address, stopped gracefully (Hummingbird
            // logs errors for a server that is cancelled instead) once the demo is down.
            let listeners = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(
                            service: OneShotService {
                                do {
                                    try await agentAPI.serve(host: localAgent.host, port: localAgent.port) { _ in
                                        agentUp.fulfill(true)
                                    }
                                } catch {
                                    agentUp.fulfill(false)
                                    throw CLIError("the local agent API on \(localAgent) did not serve: \(error)")
                                }
                                agentUp.fulfill(false)
                            }
                        ),
                        .init(
                            service: OneShotService {
                                // The demo waits for this: it must hear "not up" too, or it waits forever.
                                defer { gatewayUp.fulfill(false) }
                                guard await agentUp.value else {
                                    // A stop asked before it was up ends it too.
                                    if stopping.current != nil { return }
                                    throw CLIError("the local agent API did not start")
                                }
                                try await gateway.application {
                                    Console.line("meshctl dev: ACLs enabled, default policy \(policy)")
                                    Console.line("meshctl dev: initial management token: \(token)")
                                    Console.line(
                                        "meshctl dev:   export CONSUL_HTTP_TOKEN=\(token) CONSUL_HTTP_ADDR=\(http)"
                                    )
                                    if demo == nil {
                                        Console.line("meshctl dev: ready: Consul-compatible API on http://\(http)")
                                    }
                                    gatewayUp.fulfill(true)
                                }.runService(gracefulShutdownSignals: [])
                            }
                        ),
                    ],
                    logger: logger
                )
            )
            let listenersDone = Rendezvous<Bool>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { listenersDone.fulfill(true) }
                    do {
                        try await listeners.run()
                    } catch {
                        if stopping.current != nil { return }
                        throw error
                    }
                    // Stopping (a signal) ends them; only an unasked end is an error.
                    if Task.isCancelled || stopping.current != nil { return }
                    throw CLIError("the REST address \(http) or the local agent API stopped serving (is it in use?)")
                }
                group.addTask {
                    // A service that exits is replaced, as ECS replaces a stopped task.
                    await children.supervise()
                }
                group.addTask {
                    await Self.superviseDatabase(postgres, stopping: stopping)
                }
                group.addTask {
                    for await _ in signals {
                        // The demo stops first, while the control plane still answers its agents
                        // (they mark their instances critical and deregister on the way out).
                        children.stopDemo()
                        stopping.fulfill(true)
                        await listeners.triggerGracefulShutdown()
                        _ = await listenersDone.value
                        return
                    }
                }
                if let demo {
                    group.addTask {
                        guard await gatewayUp.value else { return }
                        try await demo.start()
                        Console.line("meshctl dev: ready: Consul-compatible API on http://\(http)")
                        // The demo's processes run until meshctl dev stops them.
                        try await Task.sleep(for: .seconds(365 * 86_400))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await stopEverything()
            throw error
        }
        Console.line("meshctl dev: stopping")
        await stopEverything()
    }
}

extension DevCommand {
    /// Keeps PostgreSQL running until cancelled: a postmaster that died (it is no child of ours,
    /// so it is looked at every half second) is started again on its data, as RDS restarts a
    /// database; the services reconnect on their own.
    static func superviseDatabase(_ postgres: EphemeralPostgres, stopping: Rendezvous<Bool>) async {
        var delay = ChildSet.firstRestartDelay
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(500))
            } catch {
                return
            }
            guard !postgres.isRunning, stopping.current == nil else { continue }
            Console.line(
                "meshctl dev: PostgreSQL (pid \(postgres.pid)) stopped; starting it again in \(ChildSet.seconds(delay))"
            )
            do {
                try await Task.sleep(for: delay)
                try postgres.restart()
                Console.line("meshctl dev: PostgreSQL running again (pid \(postgres.pid))")
                delay = ChildSet.firstRestartDelay
            } catch is CancellationError {
                return
            } catch {
                Console.line("meshctl dev: PostgreSQL did not start again: \(error)")
                delay = min(delay * 2, ChildSet.maximumRestartDelay)
            }
        }
    }

    /// A fresh base64 256-bit key-encryption key for the dev CA.
    static func newKEK() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }
}

/// A service child of `meshctl dev`: its name and the loopback ports it is given.
struct DevService: Sendable {
    let identity: ControlPlaneName
    let http: HostPort
    let grpc: HostPort
    /// Which replica (1 when there is one): `catalog-svc#2` in the output.
    let replica: Int
    let replicaCount: Int

    /// The service's name, with the replica's number when it has several.
    var name: String { self.replicaCount > 1 ? "\(self.identity.rawValue)#\(self.replica)" : self.identity.rawValue }

    init(_ identity: ControlPlaneName, replica: Int = 1, of count: Int = 1) throws {
        self.identity = identity
        self.replica = replica
        self.replicaCount = count
        self.http = HostPort(host: "127.0.0.1", port: try FreePort.pick())
        self.grpc = HostPort(host: "127.0.0.1", port: try FreePort.pick())
    }

    /// `count` replicas of `identity`, each on its own ports.
    static func replicas(_ identity: ControlPlaneName, count: Int) throws -> DevReplicas {
        DevReplicas(members: try (1...count).map { try DevService(identity, replica: $0, of: count) })
    }
}

/// The replicas of one service, as its peers and the gateway address them.
struct DevReplicas: Sendable {
    let members: [DevService]

    /// Every replica's gRPC address (`--authz-addr a,b`: clients balance over them).
    var grpc: ServiceAddress { ServiceAddress(self.members.map(\.grpc)) }
    /// Every replica's REST address (the gateway's targets for the service's paths).
    var http: ServiceAddress { ServiceAddress(self.members.map(\.http)) }
}

/// A one-line error for the terminal.
public struct CLIError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Unbuffered lines on stdout, so that "ready" reaches a log file or pipe at once.
enum Console {
    static func line(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
    }
}
