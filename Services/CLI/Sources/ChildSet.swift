import AsyncHTTPClient
import Foundation
import MeshLocal
import MeshNet
import MeshRPC
import MeshServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The children of `meshctl dev`, stopped by PID in reverse start order.
///
/// A control-plane service that exits while `meshctl dev` runs is started again on the same
/// ports with the same settings, as an ECS service replaces a stopped task: after 1 s, doubling
/// up to 30 s while it keeps failing, back to 1 s once a run lasted a minute; each stop and
/// replacement is logged.
final class ChildSet: Sendable {
    /// A service child and how it was launched (to launch it again).
    private struct ServiceChild: Sendable {
        let service: DevService
        let executable: String
        let arguments: [String]
        let environment: [String: String]
        var process: Spawned
    }

    private let children = Mutex<[ServiceChild]>([])
    /// Set by ``stopAll()``: an exit from then on is expected and nothing is restarted.
    private let stopping = Mutex(false)
    /// The walkthrough's processes: not supervised (the demo kills some on purpose), and
    /// stopped all at once first, as ECS stops a task's containers.
    private let demoChildren = Mutex<[(String, Spawned)]>([])
    /// Undone after the demo's processes stopped (its network namespaces and forwarders).
    private let demoCleanups = Mutex<[@Sendable () -> Void]>([])

    static let firstRestartDelay: Duration = .seconds(1)
    static let maximumRestartDelay: Duration = .seconds(30)
    /// A run at least this long counts as healthy: the next restart waits the first delay again.
    static let healthyRun: Duration = .seconds(60)

    func onDemoStop(_ cleanup: @escaping @Sendable () -> Void) {
        self.demoCleanups.withLock { $0.append(cleanup) }
    }
    let client: HTTPClient
    let certificates: ControlPlaneCertificates

    init(client: HTTPClient, certificates: ControlPlaneCertificates) {
        self.client = client
        self.certificates = certificates
    }

    /// Launches each replica in turn (``start(_:arguments:environment:)-(DevService,_,_)``).
    func start(_ replicas: DevReplicas, arguments: [String], environment: [String: String]) async throws {
        for service in replicas.members {
            try await self.start(service, arguments: arguments, environment: environment)
        }
    }

    /// Launches a service with its own certificate and waits until its `/ready` answers 200.
    func start(_ service: DevService, arguments: [String], environment: [String: String]) async throws {
        let files = self.certificates.files(for: service.identity)
        var environment = environment
        environment["MESH_TLS_CERT_FILE"] = files.certificatePath
        environment["MESH_TLS_KEY_FILE"] = files.keyPath
        environment["MESH_TLS_CA_FILE"] = files.caPath
        let executable = try Executables.sibling(service.identity.rawValue)
        let arguments = ["--http-addr", service.http.description, "--grpc-addr", service.grpc.description] + arguments
        let process = try Spawned.launch(
            executable,
            arguments,
            environment: environment,
            outputPath: Spawned.inheritOutput
        )
        self.children.withLock {
            $0.append(
                ServiceChild(
                    service: service,
                    executable: executable,
                    arguments: arguments,
                    environment: environment,
                    process: process
                )
            )
        }
        try await self.waitUntilReady(service, process)
        // Two lines: scripts and tests read the addresses from the first as it always was.
        Console.line("meshctl dev: \(service.name) ready (http \(service.http), grpc \(service.grpc))")
        Console.line("meshctl dev: \(service.name) runs as pid \(process.pid)")
    }

    private func waitUntilReady(_ service: DevService, _ process: Spawned) async throws {
        try await HTTPProbe.waitUntilReady(
            service.http,
            name: service.name,
            child: process,
            timeout: .seconds(120),
            client: self.client,
            scheme: "https"
        )
    }

    /// Keeps every service running until cancelled: each one that exits is started again
    /// (see the type's description).
    func supervise() async {
        let names = self.children.withLock { $0.map(\.service.name) }
        await withDiscardingTaskGroup { group in
            for name in names {
                group.addTask { await self.keepRunning(name) }
            }
        }
    }

    private func keepRunning(_ name: String) async {
        var delay = Self.firstRestartDelay
        var restarts = 0
        while !Task.isCancelled {
            guard let child = self.children.withLock({ $0.first { $0.service.name == name } }) else { return }
            let started = ContinuousClock.now
            guard let status = try? await child.process.waitForExit() else { return }
            if Task.isCancelled || self.stopping.withLock({ $0 }) { return }
            if ContinuousClock.now - started >= Self.healthyRun { delay = Self.firstRestartDelay }
            restarts += 1
            Console.line(
                "meshctl dev: \(name) (pid \(child.process.pid)) stopped: \(Self.describe(status)); "
                    + "starting a replacement in \(Self.seconds(delay)) (restart \(restarts))"
            )
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            delay = min(delay * 2, Self.maximumRestartDelay)
            if self.stopping.withLock({ $0 }) { return }
            do {
                let process = try Spawned.launch(
                    child.executable,
                    child.arguments,
                    environment: child.environment,
                    outputPath: Spawned.inheritOutput
                )
                self.children.withLock { list in
                    if let index = list.firstIndex(where: { $0.service.name == name }) { list[index].process = process }
                }
                try await self.waitUntilReady(child.service, process)
                Console.line("meshctl dev: \(name) replaced and ready (pid \(process.pid))")
            } catch {
                if Task.isCancelled { return }
                Console.line("meshctl dev: \(name) replacement failed: \(error)")
            }
        }
    }

    /// An exit status as a person reads it (128+n: killed by signal n).
    static func describe(_ status: Int32) -> String {
        status > 128 ? "killed by signal \(status - 128)" : "exit status \(status)"
    }

    static func seconds(_ duration: Duration) -> String {
        "\(duration.components.seconds)s"
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

    /// The demo, then SIGTERM to every service at once, without waiting.
    func terminateAll() {
        self.stopping.withLock { $0 = true }
        self.stopDemo()
        for child in self.children.withLock({ $0.map(\.process) }).reversed() { child.terminate() }
    }

    /// ``terminateAll()``, then each service is waited for (killed after its grace). A service
    /// that took more than a second is named, with the time it took.
    func stopAll() {
        let began = ContinuousClock.now
        self.terminateAll()
        for child in self.children.withLock({ $0 }).reversed() {
            let killed = child.process.stop()
            let took = ContinuousClock.now - began
            let seconds = String(
                format: "%.1f s",
                Double(took.components.attoseconds) / 1e18 + Double(took.components.seconds)
            )
            if killed {
                Console.line("meshctl dev: \(child.service.name) did not stop in time; killed after \(seconds)")
            } else if took > .seconds(1) {
                Console.line("meshctl dev: \(child.service.name) stopped \(seconds) after the signal")
            }
        }
    }
}
