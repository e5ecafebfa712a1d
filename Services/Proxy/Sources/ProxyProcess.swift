public import Logging
public import MeshCore
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Runs a proxy as a process: event loops, the runtime with its first config, the admin listener;
/// on SIGTERM/SIGINT the drain (``ProxyRuntime/drain()``), then exit.
public struct ProxyProcess: Sendable {
    public var options: ProxyOptions
    public var adminHost: String
    public var adminPort: Int
    /// Event-loop threads (default: one per core).
    public var threads: Int

    public init(options: ProxyOptions, adminHost: String, adminPort: Int, threads: Int) {
        self.options = options
        self.adminHost = adminHost
        self.adminPort = adminPort
        self.threads = threads
    }

    /// Serves `initial` (static mode) until a signal arrives. `afterStart` runs once the admin
    /// listener is up (dynamic mode runs its config stream there; listeners bind at the first config).
    public func run(
        initial: (ProxySnapshot, ProxyTLS)?,
        logger: Logger,
        afterStart: (@Sendable (ProxyRuntime) async -> Void)? = nil
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(self.threads, 1))
        let runtime = ProxyRuntime(options: self.options, group: group, metrics: ProxyMetrics(), logger: logger)
        let service = ProxyService(
            runtime: runtime,
            initial: initial,
            admin: (self.adminHost, self.adminPort),
            afterStart: afterStart
        )
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: service),
                    .init(service: FootprintTrimmer(), successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}

/// The proxy as a lifecycle service. Its listeners and admin endpoint open inside `run`, after
/// the `ServiceGroup` has trapped SIGTERM: whoever sees the proxy ready may stop it at once and
/// still get the drain. It runs until graceful shutdown, then drains.
struct ProxyService: Service {
    let runtime: ProxyRuntime
    let initial: (ProxySnapshot, ProxyTLS)?
    let admin: (host: String, port: Int)
    let afterStart: (@Sendable (ProxyRuntime) async -> Void)?

    func run() async throws {
        if let (snapshot, tls) = self.initial { try await self.runtime.apply(snapshot, tls: tls) }
        let admin = try await AdminServer.start(
            host: self.admin.host,
            port: self.admin.port,
            runtime: self.runtime,
            group: self.runtime.group
        )
        // Start-up code is done with: let it leave the resident set.
        ResidentFootprint.trimExecutableMappings()
        await withDiscardingTaskGroup { group in
            if let afterStart = self.afterStart {
                group.addTask { await cancelWhenGracefulShutdown { await afterStart(self.runtime) } }
            }
            group.addTask {
                try? await gracefulShutdown()
                await self.runtime.drain()
            }
        }
        try? await admin.close()
    }
}

/// Trims the proxy's resident set while it runs: start-up code leaves it again after 10 s (once
/// a dynamic-mode proxy has its first config and leaf), then every 10 s the heap a burst of
/// connections left free goes back to the system.
struct FootprintTrimmer: Service {
    func run() async {
        await cancelWhenGracefulShutdown {
            try? await Task.sleep(for: .seconds(10))
            guard !Task.isCancelled else { return }
            ResidentFootprint.trimExecutableMappings()
            while !Task.isCancelled {
                ResidentFootprint.returnFreeHeap()
                try? await Task.sleep(for: .seconds(10))
            }
        }
    }
}
