public import AsyncHTTPClient
public import Foundation
public import NIOCore

/// A minimal ECS client (JSON 1.1 protocol): list and describe tasks.
public struct ECSClient: Sendable {
    /// The `X-Amz-Target` prefix of ECS operations.
    public static let targetPrefix = "AmazonEC2ContainerServiceV20141113"

    let transport: AWSServiceTransport

    /// A client for `endpoint` (default: `https://ecs.<region>.amazonaws.com`).
    public init(
        httpClient: HTTPClient,
        credentialsProvider: any AWSCredentialsProvider,
        region: String,
        endpoint: URL? = nil,
        timeout: TimeAmount = .seconds(10)
    ) {
        self.transport = AWSServiceTransport(
            httpClient: httpClient,
            endpoint: endpoint ?? URL(string: "https://ecs.\(region).amazonaws.com/") ?? URL(fileURLWithPath: "/"),
            region: region,
            service: "ecs",
            credentialsProvider: credentialsProvider,
            timeout: timeout
        )
    }

    /// Calls `action` with a JSON `input` and decodes the answer; for operations without a typed wrapper
    /// (test fixtures create clusters and run tasks with it).
    public func call<Input: Encodable, Output: Decodable>(
        _ action: String,
        _ input: Input,
        as output: Output.Type
    ) async throws(AWSClientError) -> Output {
        try await self.transport.json(target: "\(Self.targetPrefix).\(action)", input: input, output: output)
    }

    /// The ARNs of the tasks in `cluster` (following `nextToken` to the end), optionally only those whose desired
    /// status is `desiredStatus` (`RUNNING`, `PENDING` or `STOPPED`).
    public func listTasks(cluster: String, desiredStatus: String? = nil) async throws(AWSClientError) -> [String] {
        struct Input: Encodable {
            var cluster: String
            var desiredStatus: String?
            var nextToken: String?
        }
        struct Output: Decodable {
            var taskArns: [String]?
            var nextToken: String?
        }
        var arns: [String] = []
        var input = Input(cluster: cluster, desiredStatus: desiredStatus, nextToken: nil)
        repeat {
            let page = try await self.call("ListTasks", input, as: Output.self)
            arns += page.taskArns ?? []
            input.nextToken = page.nextToken.flatMap { $0.isEmpty ? nil : $0 }
        } while input.nextToken != nil
        return arns
    }

    /// Describes `tasks` (ARNs or IDs, at most 100) in `cluster`.
    public func describeTasks(cluster: String, tasks: [String]) async throws(AWSClientError) -> ECSDescribeTasksResult {
        struct Input: Encodable {
            var cluster: String
            var tasks: [String]
        }
        struct Output: Decodable {
            var tasks: [ECSTask]?
            var failures: [ECSFailure]?
        }
        let output = try await self.call("DescribeTasks", Input(cluster: cluster, tasks: tasks), as: Output.self)
        return ECSDescribeTasksResult(tasks: output.tasks ?? [], failures: output.failures ?? [])
    }
}
