public import ArgumentParser
import Foundation
import Logging
import MeshRPC
import MeshStore
import MeshTesting
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `meshctl dev`: the whole control plane on one machine, on a private PostgreSQL.
///
/// Starts an ephemeral PostgreSQL (initdb into a temporary directory, a free loopback port),
/// then every control-plane service that exists, each as its own child process, and waits for
/// them to answer. Until a second service owns part of the REST API, catalog-svc serves the
/// dev address itself. Ctrl-C or SIGTERM stops every child by PID and removes the directory.
public struct DevCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the mesh control plane locally on a private PostgreSQL."
    )

    @Option(name: .customLong("http-addr"), help: "Address of the Consul-compatible REST API.")
    var httpAddr: String = "127.0.0.1:8500"

    @Option(
        name: .customLong("initial-management-token"),
        help: "ACL bootstrap token (accepted now; used once ACLs arrive)."
    )
    var initialManagementToken: String?

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

        let grpcPort = try FreePort.pick()
        var childEnvironment = environment
        childEnvironment["MESH_DATABASE_URL"] = database.url
        let catalog = try Spawned.launch(
            try Executables.sibling("catalog-svc"),
            ["--http-addr", http.description, "--grpc-addr", "127.0.0.1:\(grpcPort)"],
            environment: childEnvironment,
            outputPath: Spawned.inheritOutput
        )
        defer { catalog.stop() }

        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let hasToken = self.initialManagementToken != nil
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await HTTPProbe.waitUntilReady(http, name: "catalog-svc", child: catalog, timeout: .seconds(120))
                Console.line("meshctl dev: catalog-svc grpc on 127.0.0.1:\(grpcPort)")
                Console.line("meshctl dev: ready: Consul-compatible API on http://\(http)")
                if hasToken {
                    Console.line("meshctl dev: --initial-management-token accepted; ACLs arrive with authz-svc")
                }
                // Keep running until the child exits on its own (a failure) or a signal arrives.
                let status = try await catalog.waitForExit()
                throw CLIError("catalog-svc exited with status \(status)")
            }
            group.addTask {
                for await _ in signals { return }
            }
            try await group.next()
            group.cancelAll()
        }
        Console.line("meshctl dev: stopping")
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
