/// An ECS task as `DescribeTasks` reports it (the fields the mesh needs to track workload lifecycles).
public struct ECSTask: Sendable, Hashable, Codable {
    /// e.g. `arn:aws:ecs:us-east-1:123456789012:task/cluster/0123abcd`.
    public var taskArn: String
    /// `PROVISIONING`, `PENDING`, `RUNNING`, `STOPPED`, …; `nil` if absent.
    public var lastStatus: String?
    /// The status ECS is driving the task towards.
    public var desiredStatus: String?
    /// The cluster the task runs in.
    public var clusterArn: String?
    /// The task definition the task was started from.
    public var taskDefinitionArn: String?

    /// A task from its fields.
    public init(
        taskArn: String,
        lastStatus: String?,
        desiredStatus: String? = nil,
        clusterArn: String? = nil,
        taskDefinitionArn: String? = nil
    ) {
        self.taskArn = taskArn
        self.lastStatus = lastStatus
        self.desiredStatus = desiredStatus
        self.clusterArn = clusterArn
        self.taskDefinitionArn = taskDefinitionArn
    }
}

/// A task `DescribeTasks` could not describe, and why (e.g. `MISSING`).
public struct ECSFailure: Sendable, Hashable, Codable {
    /// The ARN asked about.
    public var arn: String?
    /// ECS's reason, e.g. `MISSING`.
    public var reason: String?

    /// A failure from its fields.
    public init(arn: String?, reason: String?) {
        self.arn = arn
        self.reason = reason
    }
}

/// What `DescribeTasks` returns: the tasks found and the ones that were not.
public struct ECSDescribeTasksResult: Sendable, Hashable, Codable {
    /// The tasks described.
    public var tasks: [ECSTask]
    /// The ARNs that could not be described.
    public var failures: [ECSFailure]

    /// A result from its parts.
    public init(tasks: [ECSTask], failures: [ECSFailure]) {
        self.tasks = tasks
        self.failures = failures
    }
}
