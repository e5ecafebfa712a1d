public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The task metadata endpoint v4 (`${ECS_CONTAINER_METADATA_URI_V4}/task`), the parts the agent
/// uses: which task and cluster it is, its containers' state and Docker health, its address.
public struct ECSTaskMetadata: Sendable, Decodable, Equatable {
    public var Cluster: String
    public var TaskARN: String
    public var DesiredStatus: String?
    public var KnownStatus: String?
    public var Containers: [Container]?

    public struct Container: Sendable, Decodable, Equatable {
        public var Name: String
        public var KnownStatus: String?
        public var DesiredStatus: String?
        /// Present for containers with a Docker health check.
        public var Health: ContainerHealth?
        public var Networks: [Network]?

        public init(name: String, knownStatus: String?, health: String? = nil, ipv4: [String] = []) {
            self.Name = name
            self.KnownStatus = knownStatus
            self.DesiredStatus = nil
            self.Health = health.map { ContainerHealth(status: $0) }
            self.Networks = ipv4.isEmpty ? nil : [Network(IPv4Addresses: ipv4)]
        }
    }

    /// Docker's health as ECS reports it (lowercase key): `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    public struct ContainerHealth: Sendable, Decodable, Equatable {
        public var status: String?
        public var output: String?

        public init(status: String?, output: String? = nil) {
            self.status = status
            self.output = output
        }
    }

    public struct Network: Sendable, Decodable, Equatable {
        public var IPv4Addresses: [String]?
    }

    public init(cluster: String, taskARN: String, desiredStatus: String? = "RUNNING", containers: [Container]) {
        self.Cluster = cluster
        self.TaskARN = taskARN
        self.DesiredStatus = desiredStatus
        self.KnownStatus = "RUNNING"
        self.Containers = containers
    }

    /// The task's ID: the last segment of its ARN.
    public var taskID: String { String(self.TaskARN.split(separator: "/").last ?? Substring(self.TaskARN)) }

    /// The login meta consul-ecs stores with a task's token, which the ACL controller reads.
    public var loginMeta: [String: String] {
        ["consul.hashicorp.com/task-id": self.taskID, "consul.hashicorp.com/cluster": self.Cluster]
    }

    /// The task's private IPv4 address (awsvpc: every container shares it).
    public var privateIPv4: String? {
        for container in self.Containers ?? [] {
            for network in container.Networks ?? [] {
                if let address = network.IPv4Addresses?.first, !address.isEmpty { return address }
            }
        }
        return nil
    }

    /// The metadata when running on ECS (`ECS_CONTAINER_METADATA_URI_V4` set), else nil.
    public static func fetch(environment: [String: String], httpClient: HTTPClient) async throws -> ECSTaskMetadata? {
        guard let base = environment["ECS_CONTAINER_METADATA_URI_V4"], !base.isEmpty else { return nil }
        let response = try await httpClient.execute(HTTPClientRequest(url: base + "/task"), timeout: .seconds(10))
        guard response.status.code == 200 else {
            throw AgentError("task metadata endpoint answered \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        return try JSONDecoder().decode(ECSTaskMetadata.self, from: Data(buffer: body))
    }
}

/// A failure of the agent, as one line for its log.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
