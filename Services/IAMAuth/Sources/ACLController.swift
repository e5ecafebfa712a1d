import AWS
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshNet
import MeshProto
import PostgresNIO
import SwiftProtobuf

/// What the ACL controller manages: consul-ecs's controller, rebuilt (consul-ecs
/// `subcommand/acl-controller`). Enabled by naming the ECS cluster it watches.
public struct ACLControllerSettings: Sendable {
    /// The ECS cluster (name or ARN) whose stopped tasks' tokens are deleted.
    public var cluster: String
    /// The auth method the controller creates (if missing) and whose tokens it cleans up.
    public var authMethod: String = "iam-ecs-service-token"
    /// The principals the created method trusts, e.g. `arn:aws:iam::<account>:role/consul-ecs/*`.
    public var boundIAMPrincipalARNs: [String]
    /// The tag on task roles naming the service (consul-ecs's `consul.hashicorp.com.service-name`).
    public var serviceNameTag = "consul.hashicorp.com.service-name"
    public var stsEndpoint = ""
    public var iamEndpoint = ""
    public var stsRegion = ""
    public var serverIDHeaderValue = ""
    public var maxTokenTTL: Duration?
    /// How often the controller compares tokens with ECS.
    public var interval: Duration = .seconds(10)

    public init(cluster: String, boundIAMPrincipalARNs: [String]) {
        self.cluster = cluster
        self.boundIAMPrincipalARNs = boundIAMPrincipalARNs
    }

    /// The method it creates when missing: entity details on, the service-name tag offered to rules.
    var method: AuthMethod {
        var config = AWSIAMMethodConfig()
        config.boundIAMPrincipalARNs = self.boundIAMPrincipalARNs
        config.enableIAMEntityDetails = true
        config.iamEntityTags = [self.serviceNameTag]
        config.stsEndpoint = self.stsEndpoint
        config.iamEndpoint = self.iamEndpoint
        config.stsRegion = self.stsRegion
        config.serverIDHeaderValue = self.serverIDHeaderValue
        return AuthMethod(
            name: self.authMethod,
            type: "aws-iam",
            displayName: "",
            description: "AWS IAM auth method for ECS service tokens",
            maxTokenTTL: self.maxTokenTTL,
            tokenLocality: "",
            config: config,
            createIndex: 0,
            modifyIndex: 0
        )
    }

    /// The rule it creates when the method has none: the service identity named by the role's tag.
    var rule: BindingRule {
        BindingRule(
            id: UUID().uuidString.lowercased(),
            description: "Bind a service identity from IAM role tag for ECS",
            authMethod: self.authMethod,
            selector: "",
            bindType: .service,
            bindName: "${entity_tags.\(self.serviceNameTag)}",
            createIndex: 0,
            modifyIndex: 0
        )
    }
}

/// The leader-only loop: makes sure the configured auth method and binding rule exist, then
/// deletes the login tokens of tasks ECS reports stopped (or no longer knows), so tokens do not
/// pile up when tasks die without logging out.
///
/// A token is deleted only on ECS's positive word (`lastStatus` `STOPPED`, or `MISSING`):
/// a task that is merely stopping still needs its token to deregister.
/// consul-ecs's synthetic node: one catalog node per ECS cluster, named by the cluster's ARN,
/// which tasks register their instances on with `SkipNodeUpdate` (a service identity may not
/// write nodes, so the controller, with its own token, makes it).
struct ClusterNodeRegistrar: Sendable {
    let catalog: Mesh_V1_Catalog.Client<HTTP2ClientTransport.Posix>
    let serviceToken: String
    let logger: Logger

    func register(cluster: String, ecs: ECSClient) async throws {
        struct Input: Encodable { var clusters: [String] }
        struct Output: Decodable {
            struct Cluster: Decodable { var clusterArn: String }
            var clusters: [Cluster]?
        }
        let described = try await ecs.call("DescribeClusters", Input(clusters: [cluster]), as: Output.self)
        guard let arn = described.clusters?.first?.clusterArn else {
            throw AWSClientError.malformedResponse(operation: "DescribeClusters", reason: "no cluster \(cluster)")
        }
        var metadata = Metadata()
        metadata.addToken(self.serviceToken)
        _ = try await self.catalog.register(
            .with {
                $0.node = .with {
                    $0.name = arn
                    $0.address = "127.0.0.1"
                    $0.meta = ["synthetic-node": "true", "consul.hashicorp.com/cluster": arn]
                }
            },
            metadata: metadata
        )
        self.logger.info("cluster node registered", metadata: [LogKey.node: "\(arn)"])
    }
}

struct ACLController: Sendable {
    let settings: ACLControllerSettings
    let store: IAMAuthStore
    let tokens: LoginTokensClient
    /// Registers the cluster's node (nil: catalog-svc's address was not given).
    let clusterNode: ClusterNodeRegistrar?
    let ecs: ECSClient
    let logger: Logger

    static let taskIDMeta = "consul.hashicorp.com/task-id"
    static let clusterMeta = "consul.hashicorp.com/cluster"

    /// Creates the method and rule when missing (an existing method is left as the operator changed
    /// it), and the cluster's node in the catalog, which every task's instance is registered on.
    func ensureResources() async throws {
        if let clusterNode {
            try await clusterNode.register(cluster: self.settings.cluster, ecs: self.ecs)
        }
        if try await self.store.method(named: self.settings.authMethod) == nil {
            _ = try await self.store.upsert(self.settings.method)
            self.logger.notice("auth method created", metadata: [LogKey.authMethod: "\(self.settings.authMethod)"])
        }
        if try await self.store.rules(where: "lower(auth_method) = lower(\(self.settings.authMethod))").isEmpty {
            _ = try await self.store.put(self.settings.rule, replace: false)
            self.logger.notice("binding rule created", metadata: [LogKey.authMethod: "\(self.settings.authMethod)"])
        }
    }

    /// One pass: the tokens of tasks in this cluster that ECS reports stopped are deleted. Returns how many.
    func sweep() async throws -> Int {
        let summaries = try await self.tokens.list(authMethod: self.settings.authMethod)
        var byTask: [String: [String]] = [:]
        for summary in summaries {
            guard let meta = Self.meta(fromDescription: summary.description_p),
                let task = meta[Self.taskIDMeta], !task.isEmpty,
                Self.sameCluster(meta[Self.clusterMeta] ?? "", self.settings.cluster)
            else {
                continue
            }
            byTask[Self.taskID(task), default: []].append(summary.accessorID)
        }
        guard !byTask.isEmpty else { return 0 }
        let running = Set(
            try await self.ecs.listTasks(cluster: self.settings.cluster, desiredStatus: "RUNNING").map(Self.taskID)
        )
        let candidates = byTask.keys.filter { !running.contains($0) }.sorted()
        var stopped: [String] = []
        for start in stride(from: 0, to: candidates.count, by: 100) {
            let chunk = Array(candidates[start..<min(start + 100, candidates.count)])
            let result = try await self.ecs.describeTasks(cluster: self.settings.cluster, tasks: chunk)
            stopped += result.tasks.filter { $0.lastStatus == "STOPPED" }.map { Self.taskID($0.taskArn) }
            stopped += result.failures.filter { $0.reason == "MISSING" }.compactMap { $0.arn.map(Self.taskID) }
        }
        let accessors = stopped.flatMap { byTask[$0] ?? [] }
        guard !accessors.isEmpty else { return 0 }
        let deleted = try await self.tokens.delete(authMethod: self.settings.authMethod, accessors: accessors)
        self.logger.info(
            "tokens of stopped tasks deleted",
            metadata: [LogKey.count: "\(deleted)", LogKey.tasks: "\(stopped.sorted().joined(separator: ","))"]
        )
        return deleted
    }

    /// Runs as the leader's term: resources first (retried each interval until they are in place,
    /// e.g. while catalog-svc is still starting), then a sweep every interval until cancelled.
    func run() async throws {
        var resourcesReady = false
        while !Task.isCancelled {
            do {
                if !resourcesReady {
                    try await self.ensureResources()
                    resourcesReady = true
                }
                _ = try await self.sweep()
            } catch is CancellationError {
                return
            } catch {
                self.logger.warning("ACL controller pass failed; will retry", metadata: [LogKey.error: "\(error)"])
            }
            try await Task.sleep(for: self.settings.interval)
        }
    }

    /// The meta a login stored in its token's description (`token created via login: {…}`).
    static func meta(fromDescription description: String) -> [String: String]? {
        let prefix = "token created via login: "
        guard description.hasPrefix(prefix) else { return nil }
        let json = description.dropFirst(prefix.count)
        return try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }

    /// A task's ID: the last segment of its ARN (or the ID itself).
    static func taskID(_ arnOrID: String) -> String {
        String(arnOrID.split(separator: "/").last ?? Substring(arnOrID))
    }

    /// Whether a cluster ARN or name refers to the configured cluster (ARN or name).
    static func sameCluster(_ given: String, _ configured: String) -> Bool {
        func name(_ value: String) -> String {
            String(value.split(separator: "/").last ?? Substring(value))
        }
        return !given.isEmpty && (given == configured || name(given) == name(configured))
    }
}
