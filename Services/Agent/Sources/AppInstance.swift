import Foundation

/// The instance the agent registers for its application: Consul's catalog registration body.
public struct AppInstance: Sendable, Equatable {
    public var node: String
    public var address: String
    public var service: String
    public var serviceID: String
    public var port: Int
    public var tags: [String]
    /// Leave the node as it is (it must exist): on ECS the node is the cluster, shared by every
    /// task, and a service identity may not write nodes.
    public var skipNodeUpdate: Bool

    public init(
        node: String,
        address: String,
        service: String,
        serviceID: String? = nil,
        port: Int,
        tags: [String] = [],
        skipNodeUpdate: Bool = false
    ) {
        self.node = node
        self.address = address
        self.service = service
        self.serviceID = serviceID ?? service
        self.port = port
        self.tags = tags
        self.skipNodeUpdate = skipNodeUpdate
    }

    /// On ECS (consul-ecs's conventions): the cluster ARN is the node, the task ARN the
    /// instance ID, the task's private IP the address.
    public static func onECS(
        _ task: ECSTaskMetadata,
        service: String,
        port: Int,
        tags: [String] = []
    ) throws
        -> AppInstance
    {
        guard let address = task.privateIPv4 else { throw AgentError("the task metadata has no IPv4 address") }
        return AppInstance(
            node: task.Cluster,
            address: address,
            service: service,
            serviceID: task.TaskARN,
            port: port,
            tags: tags,
            skipNodeUpdate: true
        )
    }

    /// The ID of the check health sync keeps on this instance.
    public var healthCheckID: String { "\(self.serviceID):ecs-health" }

    /// `PUT /v1/catalog/register`: the node (left as it is when `skipNodeUpdate`), the service,
    /// and, when given, the health-sync check with its status.
    func registration(health: (ECSHealth.Status, String)? = nil) -> Data {
        var body: [String: Any] = [
            "Node": self.node, "Address": self.address,
            "Service": [
                "ID": self.serviceID, "Service": self.service, "Port": self.port, "Address": self.address,
                "Tags": self.tags,
            ] as [String: Any],
        ]
        if self.skipNodeUpdate { body["SkipNodeUpdate"] = true }
        if let (status, output) = health {
            body["Checks"] = [
                [
                    "CheckID": self.healthCheckID, "Name": "ECS container health", "ServiceID": self.serviceID,
                    "Status": status.rawValue, "Output": output,
                ] as [String: Any]
            ]
        }
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
    }

    /// `PUT /v1/catalog/deregister` of the service only (the node belongs to others too).
    var deregistration: Data {
        (try? JSONSerialization.data(withJSONObject: ["Node": self.node, "ServiceID": self.serviceID])) ?? Data()
    }
}
