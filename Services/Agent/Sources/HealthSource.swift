public import MeshAgentAPI
public import MeshCore

/// What decides an instance's health while the agent runs, and tells the shutdown when the
/// instance's other parts (the app, the proxy) have exited.
public struct HealthSource: Sendable {
    /// The instance's current status and why.
    public var probe: @Sendable () async throws -> (CheckStatus, String)
    /// Whether the other containers or processes of the instance have exited.
    public var othersStopped: @Sendable () async -> Bool

    public init(
        probe: @escaping @Sendable () async throws -> (CheckStatus, String),
        othersStopped: @escaping @Sendable () async -> Bool
    ) {
        self.probe = probe
        self.othersStopped = othersStopped
    }

    /// On ECS (consul-ecs's health sync): the Docker health of `containers` (the essential ones
    /// with health checks) from the task metadata; the others have stopped when every container
    /// but the agent's own has.
    public static func ecs(
        containers: [String],
        ownContainers: Set<String>,
        fetch: @escaping @Sendable () async throws -> ECSTaskMetadata
    ) -> HealthSource {
        HealthSource(
            probe: { ECSHealth.evaluate(try await fetch(), containers: containers) },
            othersStopped: {
                guard let task = try? await fetch() else { return false }
                return ECSHealth.othersStopped(task, excluding: ownContainers)
            }
        )
    }

    /// Off ECS: the local check (passing without one); the app has exited when its port refuses.
    public static func local(check: LocalCheck?, appPort: Int) -> HealthSource {
        HealthSource(
            probe: { await check?.run() ?? (.passing, "mesh-agent is running") },
            othersStopped: { await !LocalCheck.accepts(host: "127.0.0.1", port: appPort) }
        )
    }
}
