public import AWS

/// An ECS cluster in moto with a one-container task definition, for tests of what follows task
/// lifecycles (the ACL controller, health sync).
public struct ECSTestCluster: Sendable {
    public let ecs: ECSClient
    public let name: String

    private struct Empty: Codable {}

    /// Creates the cluster and registers the task definition `family`.
    public static func create(_ ecs: ECSClient, name: String, family: String = "web") async throws -> ECSTestCluster {
        struct Cluster: Encodable { var clusterName: String }
        struct Container: Encodable {
            var name = "app"
            var image = "nginx"
            var memory = 128
        }
        struct Definition: Encodable {
            var family: String
            var containerDefinitions = [Container()]
        }
        _ = try await ecs.call("CreateCluster", Cluster(clusterName: name), as: Empty.self)
        _ = try await ecs.call("RegisterTaskDefinition", Definition(family: family), as: Empty.self)
        return ECSTestCluster(ecs: ecs, name: name)
    }

    /// Starts `count` tasks of `family` (Fargate) and returns them.
    public func run(count: Int, family: String = "web") async throws -> [ECSTask] {
        struct Run: Encodable {
            var cluster: String
            var taskDefinition: String
            var launchType = "FARGATE"
            var count: Int
        }
        struct Output: Decodable { var tasks: [ECSTask] }
        return try await self.ecs.call(
            "RunTask",
            Run(cluster: self.name, taskDefinition: family, count: count),
            as: Output.self
        ).tasks
    }

    /// Stops a task (ECS's `StopTask`).
    public func stop(_ task: String) async throws {
        struct Stop: Encodable {
            var cluster: String
            var task: String
        }
        _ = try await self.ecs.call("StopTask", Stop(cluster: self.name, task: task), as: Empty.self)
    }
}
