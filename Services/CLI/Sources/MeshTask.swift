import Foundation

/// consul-ecs's `mesh-task`, as a transformation of a task definition: the application's own
/// containers stay as they are, and the mesh is added beside them.
///
/// - `mesh-agent` (not essential): logs in with the task role, registers the instance, writes
///   the token to the shared `/mesh` volume, then syncs container health to the catalog. Healthy
///   once the token is written.
/// - `mesh-proxy` (essential): starts once the agent is healthy; the public mTLS listener's port
///   is mapped; the application's containers start once the proxy is healthy.
///
/// ECS stops containers in the reverse order of these dependencies, so the application stops
/// first, then the proxy, then the agent; the agent marks the instance critical as soon as the
/// task's desired status turns `STOPPED` (before any container stops), and deregisters and logs
/// out last (the shutdown order in docs/ARCHITECTURE.md).
public struct MeshTask: Sendable {
    public var service: String
    /// The application's port (default: the first essential container's first `containerPort`).
    public var port: Int?
    /// `name:localPort` for each upstream the proxy listens for on 127.0.0.1.
    public var upstreams: [(name: String, localPort: Int)]
    /// The Consul-compatible REST API of the control plane, as the agent and proxy reach it.
    public var meshAddress: String
    /// The config-distributor's gRPC address (the internal gRPC load balancer, port 8510).
    public var distributorAddress: String
    /// The PEM CA of the control plane's TLS certificates (public, so a plain environment value),
    /// given to the proxy as `MESH_DISTRIBUTOR_CA_PEM`; without it the proxy speaks plaintext gRPC.
    public var distributorCAPEM: String?
    public var authMethod: String = "iam-ecs-service-token"
    public var serverIDHeaderValue: String?
    /// Where the images come from: `<repository>/mesh-agent:<tag>`, `<repository>/mesh-proxy:<tag>`.
    public var imageRepository: String
    public var imageTag: String
    public var publicPort = 21000

    public static let agentName = "mesh-agent"
    public static let proxyName = "mesh-proxy"
    public static let volumeName = "mesh-data"
    public static let serviceNameTag = "consul.hashicorp.com.service-name"

    public init(
        service: String,
        port: Int? = nil,
        upstreams: [(name: String, localPort: Int)] = [],
        meshAddress: String,
        distributorAddress: String,
        imageRepository: String,
        imageTag: String
    ) {
        self.service = service
        self.port = port
        self.upstreams = upstreams
        self.meshAddress = meshAddress
        self.distributorAddress = distributorAddress
        self.imageRepository = imageRepository
        self.imageTag = imageTag
    }

    /// Fields `describe-task-definition` returns that `register-task-definition` refuses.
    static let readOnlyFields = [
        "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
        "registeredBy", "deregisteredAt",
    ]

    /// The meshed task definition (ECS API JSON, as `register-task-definition --cli-input-json` takes it).
    public func apply(to input: [String: Any]) throws -> [String: Any] {
        // `aws ecs describe-task-definition` wraps the definition; accept that shape too.
        var task = (input["taskDefinition"] as? [String: Any]) ?? input
        for field in Self.readOnlyFields { task.removeValue(forKey: field) }
        guard var containers = task["containerDefinitions"] as? [[String: Any]], !containers.isEmpty else {
            throw CLIError("the task definition has no containerDefinitions")
        }
        let names = containers.compactMap { $0["name"] as? String }
        guard names.count == containers.count else { throw CLIError("every container needs a name") }
        if let taken = names.first(where: { [Self.agentName, Self.proxyName].contains($0) }) {
            throw CLIError("the task already has a container named \(taken): is it meshed already?")
        }
        let networkMode = task["networkMode"] as? String ?? "awsvpc"
        guard networkMode == "awsvpc" else {
            throw CLIError("networkMode \(networkMode): the mesh needs awsvpc (one address per task)")
        }
        task["networkMode"] = "awsvpc"
        let essential = containers.filter { ($0["essential"] as? Bool) ?? true }
        guard let port = self.port ?? Self.firstPort(of: essential) else {
            throw CLIError("no --port given and no containerPort in the essential containers")
        }
        // The containers whose Docker health decides the instance's (consul-ecs: essential ones with checks).
        let synced = essential.filter { $0["healthCheck"] != nil }.compactMap { $0["name"] as? String }
        for index in containers.indices {
            var dependsOn = containers[index]["dependsOn"] as? [[String: Any]] ?? []
            dependsOn.append(["containerName": Self.proxyName, "condition": "HEALTHY"])
            containers[index]["dependsOn"] = dependsOn
        }
        let logging = containers.first?["logConfiguration"]
        containers.append(self.agent(port: port, synced: synced, logging: logging))
        containers.append(self.proxy(logging: logging))
        task["containerDefinitions"] = containers
        var volumes = task["volumes"] as? [[String: Any]] ?? []
        volumes.append(["name": Self.volumeName])
        task["volumes"] = volumes
        var tags = task["tags"] as? [[String: Any]] ?? []
        tags.append(["key": "consul.hashicorp.com/mesh", "value": "true"])
        tags.append(["key": Self.serviceNameTag, "value": self.service])
        task["tags"] = tags
        return task
    }

    static func firstPort(of containers: [[String: Any]]) -> Int? {
        for container in containers {
            for mapping in container["portMappings"] as? [[String: Any]] ?? [] {
                if let port = mapping["containerPort"] as? Int { return port }
            }
        }
        return nil
    }

    private var mount: [[String: Any]] { [["sourceVolume": Self.volumeName, "containerPath": "/mesh"]] }

    private func image(_ name: String) -> String { "\(self.imageRepository)/\(name):\(self.imageTag)" }

    private func agent(port: Int, synced: [String], logging: Any?) -> [String: Any] {
        var command = [
            "run", "--init", "--service", self.service, "--port", String(port), "--token-file", "/mesh/token",
            "--http-addr", self.meshAddress, "--auth-method", self.authMethod, "--aws-include-entity",
            "--health-sync-containers", synced.joined(separator: ","), "--agent-container", Self.agentName,
            "--proxy-port", String(self.publicPort), "--proxy-bootstrap-file", Self.bootstrapPath,
            "--distributor-addr", self.distributorAddress,
        ]
        for upstream in self.upstreams { command += ["--upstream", "\(upstream.name):\(upstream.localPort)"] }
        if let serverID = self.serverIDHeaderValue { command += ["--aws-server-id-header-value", serverID] }
        var container: [String: Any] = [
            "name": Self.agentName,
            "image": self.image("mesh-agent"),
            "essential": false,
            "command": command,
            "mountPoints": self.mount,
            // Healthy once logged in and registered (the token file is written).
            "healthCheck": [
                "command": ["CMD", "/usr/local/bin/mesh-agent", "status", "--token-file", "/mesh/token"],
                "interval": 5, "timeout": 3, "retries": 3, "startPeriod": 10,
            ] as [String: Any],
            // It waits for the application and the proxy before deregistering: give it time.
            "stopTimeout": 120,
        ]
        if let logging { container["logConfiguration"] = logging }
        return container
    }

    private func proxy(logging: Any?) -> [String: Any] {
        // The agent wrote the bootstrap (distributor, proxy ID, token file) before turning healthy.
        let command = ["run", "--bootstrap", Self.bootstrapPath]
        var container: [String: Any] = [
            "name": Self.proxyName,
            "image": self.image("mesh-proxy"),
            "essential": true,
            "command": command,
            "mountPoints": self.mount,
            "portMappings": [["containerPort": self.publicPort, "protocol": "tcp"]],
            "dependsOn": [["containerName": Self.agentName, "condition": "HEALTHY"]],
            "healthCheck": [
                "command": ["CMD", "/usr/local/bin/mesh-proxy", "health"],
                "interval": 5, "timeout": 3, "retries": 3, "startPeriod": 10,
            ] as [String: Any],
            // In-flight requests drain before the proxy exits.
            "stopTimeout": 30,
        ]
        if let pem = self.distributorCAPEM {
            container["environment"] = [["name": "MESH_DISTRIBUTOR_CA_PEM", "value": pem]]
        }
        if let logging { container["logConfiguration"] = logging }
        return container
    }

    /// Where the agent writes the proxy's bootstrap on the shared volume.
    static let bootstrapPath = "/mesh/proxy.json"
}
