public import Logging
public import MeshAgentAPI
import MeshCore
public import MeshRPC
public import ServiceLifecycle

/// `mesh-agent run` as a lifecycle service: keeps the instance's health in sync (ECS container
/// health, or a local check off ECS) and serves the local agent API until graceful shutdown
/// (SIGTERM or SIGINT through its `ServiceGroup`); then consul-ecs's order: the local API's
/// registrations removed, the instance marked critical, the other containers or the app waited
/// for, the instance deregistered, and the token logged out, last.
public struct AgentRun: Service {
    let sync: HealthSync
    let localAPI: LocalAgentAPI?
    let apiAddress: HostPort?
    let logout: Bool
    /// Logged once running, with SIGTERM already trapped: whoever waits for this line may stop
    /// the agent at once and still get the orderly shutdown.
    let ready: String
    let logger: Logger

    public init(
        sync: HealthSync,
        localAPI: LocalAgentAPI?,
        apiAddress: HostPort?,
        logout: Bool,
        ready: String,
        logger: Logger
    ) {
        self.sync = sync
        self.localAPI = localAPI
        self.apiAddress = apiAddress
        self.logout = logout
        self.ready = ready
        self.logger = logger
    }

    public func run() async throws {
        // The ServiceGroup traps its signals before it starts its services, so only from here
        // on does SIGTERM mean "shut down in order" rather than "die".
        self.logger.info("\(self.ready)")
        // Both end at graceful shutdown: the sync is cancelled, the local API shuts down
        // gracefully (cancelling it logged "Server shutdown error: Already closed" at error level
        // on every clean stop).
        await withDiscardingTaskGroup { group in
            group.addTask { try? await cancelWhenGracefulShutdown { await self.sync.run() } }
            if let api = self.localAPI, let address = self.apiAddress {
                group.addTask { await self.serve(api, at: address) }
            }
        }
        await self.localAPI?.deregisterAll()
        try await self.sync.shutdown(logout: self.logout)
    }

    /// Serves the local agent API until cancelled; a failure to serve is logged, not fatal (the
    /// instance's registration and health do not depend on it).
    private func serve(_ api: LocalAgentAPI, at address: HostPort) async {
        let logger = self.logger
        do {
            try await api.serve(host: address.host, port: address.port) { port in
                logger.info("local agent API listening", metadata: [LogKey.address: "\(address.host):\(port)"])
            }
        } catch {
            logger.error("local agent API not served", metadata: [LogKey.error: "\(error)"])
        }
    }
}
