import Foundation
import MeshCore

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
    /// The port of mesh-proxy's public listener beside the application: its sidecar instance
    /// (`<service>-sidecar-proxy`) is registered with it, and that is what peers' proxies dial.
    public var proxyPort: Int = 21000
    /// The services the application calls through its proxy, and the local port of each
    /// (the sidecar's `Proxy.Upstreams`).
    public var upstreams: [UpstreamPort] = []
    /// The name shown for the synced check (ECS container health, or the local check's).
    public var checkName = "ECS container health"
    /// The TTL of the agent-liveness check (Consul's `serfHealth` for a task): the agent passes it
    /// every third of the TTL; when the agent dies, the instance and its sidecar turn critical once
    /// it lapses. Nil: no such check.
    public var livenessTTL: Duration?

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

    /// The sidecar proxy's instance ID and service name (Consul's convention).
    public var sidecarID: String { "\(self.serviceID)-sidecar-proxy" }
    public var sidecarService: String { "\(self.service)-sidecar-proxy" }

    /// `PUT /v1/catalog/register` bodies: the application's instance and its sidecar proxy's
    /// (kind `connect-proxy`, at the public listener's port), each with the health-sync check
    /// when given, so that peers drop both together. The node is left as it is when `skipNodeUpdate`.
    func registrations(health: (CheckStatus, String)? = nil) -> [Data] {
        let sidecar: [String: Any] = [
            "ID": self.sidecarID, "Service": self.sidecarService, "Kind": "connect-proxy", "Port": self.proxyPort,
            "Address": self.address, "Tags": self.tags,
            "Proxy": [
                "DestinationServiceName": self.service, "DestinationServiceID": self.serviceID,
                "LocalServiceAddress": "127.0.0.1", "LocalServicePort": self.port,
                "Upstreams": self.upstreams.map { ["DestinationName": $0.service, "LocalBindPort": $0.port] },
            ] as [String: Any],
        ]
        let application: [String: Any] = [
            "ID": self.serviceID, "Service": self.service, "Port": self.port, "Address": self.address,
            "Tags": self.tags,
        ]
        return [(application, self.healthCheckID), (sidecar, "\(self.sidecarID):ecs-health")].map { service, checkID in
            var body: [String: Any] = ["Node": self.node, "Address": self.address, "Service": service]
            if self.skipNodeUpdate { body["SkipNodeUpdate"] = true }
            var checks: [[String: Any]] = []
            if let (status, output) = health {
                checks.append([
                    "CheckID": checkID, "Name": self.checkName, "ServiceID": service["ID"] ?? "",
                    "Status": status.rawValue, "Output": output,
                ])
            }
            if let ttl = self.livenessTTL, let id = service["ID"] as? String {
                checks.append([
                    "CheckID": Self.livenessCheckID(of: id), "Name": "mesh-agent alive", "ServiceID": id,
                    "Status": "passing", "Output": "mesh-agent is running",
                    "Definition": ["TTL": "\(Int(ttl / .milliseconds(1)))ms"],
                ])
            }
            if !checks.isEmpty { body["Checks"] = checks }
            return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        }
    }

    /// The liveness check of the instance or sidecar `id`.
    public static func livenessCheckID(of id: String) -> String { "\(id):agent-alive" }

    /// The IDs of the liveness checks the agent keeps passing.
    public var livenessCheckIDs: [String] {
        self.livenessTTL == nil
            ? [] : [Self.livenessCheckID(of: self.serviceID), Self.livenessCheckID(of: self.sidecarID)]
    }

    /// `PUT /v1/catalog/deregister` of the application's and the sidecar's instances (the node
    /// belongs to others too).
    var deregistrations: [Data] {
        [self.serviceID, self.sidecarID].map {
            (try? JSONSerialization.data(withJSONObject: ["Node": self.node, "ServiceID": $0])) ?? Data()
        }
    }
}

/// One upstream of the application: `service` reached on local `port` (`--upstream api:9191`).
public struct UpstreamPort: Sendable, Equatable {
    public var service: String
    public var port: Int

    public init(service: String, port: Int) {
        self.service = service
        self.port = port
    }

    /// Parses `service:port`.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port), colon != text.startIndex
        else { return nil }
        self.service = String(text[..<colon])
        self.port = port
    }
}
