public import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore
import MeshTLS
import MeshTesting
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
        guard self.defaultPolicy == "allow" || self.defaultPolicy == "deny" else {
            throw CLIError("--default-policy: use allow or deny, not \"\(self.defaultPolicy)\"")
        }
        let token = self.initialManagementToken ?? UUID().uuidString.lowercased()
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
        // A private CA and one certificate for every service: the local mesh runs on TLS too.
        let tls = try DevCertificates.write(into: postgres.directory.path + "-tls")
        defer { try? FileManager.default.removeItem(atPath: postgres.directory.path + "-tls") }
        var childEnvironment = environment
        childEnvironment["MESH_DATABASE_URL"] = database.url
        childEnvironment["MESH_TLS_CERT_FILE"] = tls.certificatePath
        childEnvironment["MESH_TLS_KEY_FILE"] = tls.keyPath
        childEnvironment["MESH_TLS_CA_FILE"] = tls.caPath
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: try tls.httpsClientConfiguration())
        )
        // The client must be shut down on every path (AsyncHTTPClient traps otherwise).
        do {
            let children = ChildSet(client: client)
            defer { children.stopAll() }
            Console.line("meshctl dev: TLS on every service (dev CA \(tls.caPath))")

            let authz = try DevService(name: "authz-svc")
            var authzEnvironment = childEnvironment
            authzEnvironment["MESH_ACL_INITIAL_MANAGEMENT_TOKEN"] = token
            authzEnvironment["MESH_ACL_DEFAULT_POLICY"] = self.defaultPolicy
            try await children.start(authz, arguments: [], environment: authzEnvironment)

            let catalog = try DevService(name: "catalog-svc")
            try await children.start(
                catalog,
                arguments: ["--authz-addr", authz.grpc.description],
                environment: childEnvironment
            )

            // The CA's key-encryption key lives only in this process and the child's environment.
            let ca = try DevService(name: "ca-svc")
            var caEnvironment = childEnvironment
            caEnvironment["MESH_CA_KEK"] = Self.newKEK()
            try await children.start(
                ca,
                arguments: ["--authz-addr", authz.grpc.description],
                environment: caEnvironment
            )

            // iam-auth-svc mints login tokens with a token of its own; in dev, the management token.
            let iamAuth = try DevService(name: "iam-auth-svc")
            var iamEnvironment = childEnvironment
            iamEnvironment["MESH_ACL_TOKEN"] = token
            try await children.start(
                iamAuth,
                arguments: ["--authz-addr", authz.grpc.description],
                environment: iamEnvironment
            )

            // Proxies' config streams; it follows the others with the management token in dev.
            let distributor = try DevService(name: "config-distributor")
            var distributorEnvironment = childEnvironment
            distributorEnvironment["MESH_ACL_TOKEN"] = token
            try await children.start(
                distributor,
                arguments: [
                    "--catalog-addr", catalog.grpc.description, "--authz-addr", authz.grpc.description,
                    "--ca-addr", ca.grpc.description,
                ],
                environment: distributorEnvironment
            )

            let gateway = DevGateway(
                address: http,
                catalog: catalog.http,
                authz: authz.http,
                ca: ca.http,
                iamAuth: iamAuth.http,
                client: client,
                logger: logger
            )
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
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
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await gateway.application {
                        Console.line("meshctl dev: ACLs enabled, default policy \(policy)")
                        Console.line("meshctl dev: initial management token: \(token)")
                        Console.line("meshctl dev:   export CONSUL_HTTP_TOKEN=\(token) CONSUL_HTTP_ADDR=\(http)")
                        if demo == nil {
                            Console.line("meshctl dev: ready: Consul-compatible API on http://\(http)")
                        }
                        gatewayUp.fulfill(true)
                    }.runService(gracefulShutdownSignals: [])
                    // Stopping (a signal) ends it too; only an unasked end is an error.
                    if Task.isCancelled { return }
                    throw CLIError("the REST address \(http) stopped serving (is it in use?)")
                }
                group.addTask {
                    // A child that exits on its own is a failure: stop everything.
                    let (name, status) = try await children.firstExit()
                    throw CLIError("\(name) exited with status \(status)")
                }
                group.addTask {
                    for await _ in signals {
                        // The demo stops first, while the control plane still answers its agents
                        // (they mark their instances critical and deregister on the way out).
                        children.stopDemo()
                        return
                    }
                }
                if let demo {
                    group.addTask {
                        _ = await gatewayUp.value
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
            try? await client.shutdown()
            throw error
        }
        Console.line("meshctl dev: stopping")
        try? await client.shutdown()
    }
}

extension DevCommand {
    /// A fresh base64 256-bit key-encryption key for the dev CA.
    static func newKEK() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }
}

/// A service child of `meshctl dev`: its name and the loopback ports it is given.
struct DevService: Sendable {
    let name: String
    let http: HostPort
    let grpc: HostPort

    init(name: String) throws {
        self.name = name
        self.http = HostPort(host: "127.0.0.1", port: try FreePort.pick())
        self.grpc = HostPort(host: "127.0.0.1", port: try FreePort.pick())
    }
}

/// The children of `meshctl dev`, stopped by PID in reverse start order.
final class ChildSet: Sendable {
    private let children = Mutex<[(String, Spawned)]>([])
    /// The walkthrough's processes: not watched by `firstExit` (the demo kills some on purpose),
    /// and stopped all at once first, as ECS stops a task's containers.
    private let demoChildren = Mutex<[(String, Spawned)]>([])
    /// Undone after the demo's processes stopped (its network namespaces and forwarders).
    private let demoCleanups = Mutex<[@Sendable () -> Void]>([])

    func onDemoStop(_ cleanup: @escaping @Sendable () -> Void) {
        self.demoCleanups.withLock { $0.append(cleanup) }
    }
    let client: HTTPClient

    init(client: HTTPClient) {
        self.client = client
    }

    /// Launches a service and waits until its `/ready` answers 200.
    func start(_ service: DevService, arguments: [String], environment: [String: String]) async throws {
        let child = try Spawned.launch(
            try Executables.sibling(service.name),
            ["--http-addr", service.http.description, "--grpc-addr", service.grpc.description] + arguments,
            environment: environment,
            outputPath: Spawned.inheritOutput
        )
        self.children.withLock { $0.append((service.name, child)) }
        try await HTTPProbe.waitUntilReady(
            service.http,
            name: service.name,
            child: child,
            timeout: .seconds(120),
            client: self.client,
            scheme: "https"
        )
        Console.line("meshctl dev: \(service.name) ready (http \(service.http), grpc \(service.grpc))")
    }

    /// The first child to exit, and its status.
    func firstExit() async throws -> (String, Int32) {
        let all = self.children.withLock { $0 }
        return try await withThrowingTaskGroup(of: (String, Int32).self) { group in
            for (name, child) in all {
                group.addTask { (name, try await child.waitForExit()) }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    /// Starts a demo process (its output goes to `logPath`).
    func launchDemo(_ name: String, _ executable: String, _ arguments: [String], logPath: String) throws -> Spawned {
        let child = try Spawned.launch(executable, arguments, outputPath: logPath)
        self.demoChildren.withLock { $0.append((name, child)) }
        return child
    }

    /// SIGTERM to every demo process at once (as ECS stops a task), then waits for each.
    func stopDemo() {
        let demo = self.demoChildren.withLock { $0 }
        for (_, child) in demo { child.terminate() }
        for (_, child) in demo { child.stop() }
        let cleanups = self.demoCleanups.withLock { list in
            defer { list = [] }
            return list
        }
        for cleanup in cleanups.reversed() { cleanup() }
    }

    /// The demo, then the services: SIGTERM to all at once, then each is waited for (killed after its grace).
    func stopAll() {
        self.stopDemo()
        let services = self.children.withLock { $0 }.reversed()
        for (_, child) in services { child.terminate() }
        for (_, child) in services { child.stop() }
    }
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

/// The dev CA and the one certificate all of `meshctl dev`'s services present (loopback names).
enum DevCertificates {
    /// Writes `ca.pem`, `service.pem` and `service-key.pem` (mode 0600) into `directory`.
    static func write(into directory: String) throws -> TLSFiles {
        try FileManager.default.createDirectory(
            atPath: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let authority = try DevTLS.makeCA(name: "meshctl dev CA")
        let identity = try DevTLS.issueServerCert(
            ca: authority.certificate,
            caKey: authority.privateKey,
            dnsNames: ["localhost"],
            ipAddresses: ["127.0.0.1", "::1"]
        )
        let files = TLSFiles(
            certificatePath: directory + "/service.pem",
            keyPath: directory + "/service-key.pem",
            caPath: directory + "/ca.pem"
        )
        try authority.certificatePEM.write(toFile: files.caPath, atomically: true, encoding: .utf8)
        try identity.certificatePEM.write(toFile: files.certificatePath, atomically: true, encoding: .utf8)
        guard
            FileManager.default.createFile(
                atPath: files.keyPath,
                contents: Data(identity.privateKeyPEM.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw CLIError("cannot write \(files.keyPath)") }
        return files
    }
}
