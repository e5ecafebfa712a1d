import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MeshAgentAPI
import MeshClient
import MeshCore
import MeshProcess

/// Where the API is and which instance this is: shared by `init` and `run`.
struct InstanceOptions: ParsableArguments {
    @Option(name: .customLong("http-addr"), help: "The mesh REST API (env CONSUL_HTTP_ADDR, default 127.0.0.1:8500).")
    var httpAddr: String?

    @Option(name: .customLong("service"), help: "The application's service name.")
    var service: String

    @Option(
        name: .customLong("service-id"),
        help: "The instance ID (default: the service name, or <service>-<task id> on ECS)."
    )
    var serviceID: String?

    @Option(name: .customLong("port"), help: "The application's port.")
    var port: Int

    @Option(
        name: .customLong("address"),
        help: "The instance's address (default: the task's IP on ECS, else 127.0.0.1)."
    )
    var address: String?

    @Option(name: .customLong("node"), help: "The catalog node (default: the cluster ARN on ECS, else the host name).")
    var node: String?

    @Option(name: .customLong("token-file"), help: "Where the token is kept for the proxy and for `run`.")
    var tokenFile: String

    @Option(name: .customLong("proxy-port"), help: "mesh-proxy's public listener, registered as the sidecar (21000).")
    var proxyPort: Int = 21000

    @Option(
        name: .customLong("upstream"),
        help: "A service the app calls through the proxy, as service:local-port (repeatable)."
    )
    var upstream: [String] = []

    @Option(
        name: .customLong("liveness-ttl"),
        help: "TTL of the agent-liveness check kept passing by `run` (default 10s; 0 for none)."
    )
    var livenessTTL: String = "10s"

    @Option(
        name: .customLong("proxy-bootstrap-file"),
        help: "Write mesh-proxy's dynamic-mode bootstrap here (with --distributor-addr)."
    )
    var proxyBootstrapFile: String?

    @Option(name: .customLong("distributor-addr"), help: "config-distributor gRPC address, for the proxy's bootstrap.")
    var distributorAddr: String?

    @Option(name: .customLong("distributor-ca-file"), help: "CA of the distributor's TLS certificate, for the proxy.")
    var distributorCAFile: String?

    @Option(name: .customLong("datacenter"), help: "Datacenter of the proxy's identity (default dc1).")
    var datacenter: String = "dc1"

    @Option(name: .customLong("proxy-admin-addr"), help: "The proxy's admin listener (default 127.0.0.1:19000).")
    var proxyAdminAddr: String?

    /// The bootstrap mesh-proxy's `run` reads (see the proxy's `DynamicBootstrap`); the token stays in its own file.
    func proxyBootstrap(for instance: AppInstance) -> Data? {
        guard let distributor = self.distributorAddr else { return nil }
        var bootstrap: [String: String] = [
            "distributorAddr": distributor, "proxyID": instance.sidecarID, "service": instance.service,
            "tokenFile": self.tokenFile, "datacenter": self.datacenter,
        ]
        bootstrap["distributorCAFile"] = self.distributorCAFile
        bootstrap["adminAddr"] = self.proxyAdminAddr
        return try? JSONSerialization.data(withJSONObject: bootstrap, options: [.sortedKeys, .prettyPrinted])
    }

    /// The leaf issuer of the local API: the distributor's `SignLeaf`, when a distributor is known.
    func leafIssuer() throws -> LeafIssuer? {
        guard let text = self.distributorAddr else { return nil }
        // One address (a balancer's), or the replicas' addresses separated by commas.
        guard let replicas = ServiceAddress(parsing: text) else {
            throw ValidationError("--distributor-addr: expected host:port[,host:port...], got \"\(text)\"")
        }
        var caPEM: String?
        if let path = self.distributorCAFile {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--distributor-ca-file: cannot read \(path)")
            }
            caPEM = pem
        }
        return try LeafIssuer(
            distributors: replicas.pairs,
            distributorCAPEM: caPEM,
            datacenter: self.datacenter
        )
    }

    func liveness() throws -> Duration? {
        guard let ttl = GoDuration.parse(self.livenessTTL) else {
            throw ValidationError("--liveness-ttl: expected a duration such as 10s, got \"\(self.livenessTTL)\"")
        }
        return ttl > .zero ? ttl : nil
    }

    func upstreams() throws -> [UpstreamPort] {
        try self.upstream.map { text in
            guard let upstream = UpstreamPort(parsing: text) else {
                throw ValidationError("--upstream: expected service:port, got \"\(text)\"")
            }
            return upstream
        }
    }

    /// The control plane's REST API; its idempotent calls (registration, health, deregistration)
    /// ride out a replica that dies under them (about 12 s of retries).
    func api(_ environment: [String: String]) -> ConsulAPI {
        var api = ConsulAPI(
            address: self.httpAddr ?? environment["CONSUL_HTTP_ADDR"] ?? environment["MESH_HTTP_ADDR"]
                ?? "127.0.0.1:8500"
        )
        api.transientRetries = 8
        return api
    }

    /// The instance: on ECS from the task metadata (cluster ARN as node, task ARN as ID, the
    /// task's IP), flags overriding; elsewhere from the flags.
    func instance(task: ECSTaskMetadata?) throws -> AppInstance {
        guard let task else {
            var instance = AppInstance(
                node: self.node ?? ProcessInfo.processInfo.hostName,
                address: self.address ?? "127.0.0.1",
                service: self.service,
                serviceID: self.serviceID,
                port: self.port
            )
            instance.proxyPort = self.proxyPort
            instance.upstreams = try self.upstreams()
            instance.livenessTTL = try self.liveness()
            return instance
        }
        var instance = try AppInstance.onECS(task, service: self.service, port: self.port)
        instance.proxyPort = self.proxyPort
        instance.upstreams = try self.upstreams()
        instance.livenessTTL = try self.liveness()
        if let node = self.node { instance.node = node }
        if let address = self.address { instance.address = address }
        if let id = self.serviceID { instance.serviceID = id }
        return instance
    }

    /// The task metadata when on ECS.
    func task(_ environment: [String: String]) async throws -> ECSTaskMetadata? {
        try await ECSTaskMetadata.fetch(environment: environment, httpClient: .shared)
    }
}
