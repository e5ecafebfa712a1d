public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The parts of the ECS task metadata endpoint (v4, `${ECS_CONTAINER_METADATA_URI_V4}/task`)
/// the agent uses: which task and cluster it runs in.
public struct ECSTaskMetadata: Sendable, Decodable, Equatable {
    public var Cluster: String
    public var TaskARN: String

    /// The task's ID: the last segment of its ARN.
    public var taskID: String { String(self.TaskARN.split(separator: "/").last ?? Substring(self.TaskARN)) }

    /// The login meta consul-ecs stores with a task's token, which the ACL controller reads.
    public var loginMeta: [String: String] {
        ["consul.hashicorp.com/task-id": self.taskID, "consul.hashicorp.com/cluster": self.Cluster]
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
