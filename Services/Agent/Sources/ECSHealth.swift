public import MeshCore

/// consul-ecs's health sync rule: the instance is passing only while every synced container (the
/// essential containers that have Docker health checks) is running and `HEALTHY`, and the task
/// is not stopping.
public enum ECSHealth {
    /// The check's status and a human-readable output naming what is wrong.
    public static func evaluate(_ task: ECSTaskMetadata, containers names: [String]) -> (CheckStatus, String) {
        if task.DesiredStatus == "STOPPED" { return (.critical, "the task is stopping") }
        let containers = task.Containers ?? []
        var problems: [String] = []
        for name in names {
            guard let container = containers.first(where: { $0.Name == name }) else {
                problems.append("container \(name) is not in the task")
                continue
            }
            if container.KnownStatus == "STOPPED" || container.DesiredStatus == "STOPPED" {
                problems.append("container \(name) has stopped")
            } else if container.Health?.status != "HEALTHY" {
                problems.append("container \(name) is \(container.Health?.status ?? "without health")")
            }
        }
        guard problems.isEmpty else { return (.critical, problems.joined(separator: "; ")) }
        return (.passing, names.isEmpty ? "no health-checked containers" : "all containers are healthy")
    }

    /// Whether every container other than `excluded` (the agent itself) has stopped: the moment
    /// the agent may deregister (the proxy outlives the application, the agent outlives both).
    public static func othersStopped(_ task: ECSTaskMetadata, excluding excluded: Set<String>) -> Bool {
        (task.Containers ?? []).allSatisfy { excluded.contains($0.Name) || $0.KnownStatus == "STOPPED" }
    }
}
