public import MeshNet

/// Dynamic mode: where the config-distributor is and who this proxy is.
public struct DynamicSettings: Sendable {
    /// The distributor's gRPC address (`host:port`; a name is resolved by DNS).
    public var distributorHost: String
    public var distributorPort: Int
    /// The proxy's catalog service ID (its `connect-proxy` registration).
    public var proxyID: String
    /// The service it fronts.
    public var service: String
    /// Its ACL token (service:write on `service`), from the agent's token file or the environment.
    public var token: String
    /// The datacenter of its own SPIFFE ID.
    public var datacenter: String
    /// PEM roots that sign the distributor's certificate; nil for plaintext (loopback, tests).
    public var distributorCAPEM: String?
    /// Other replicas' addresses (IPv4), when there is no balancer in front of them: the stream
    /// goes to the first that answers and moves to the next when its replica dies.
    public var otherDistributors: [(host: String, port: Int)]
    /// Keepalive on the stream's connection (dead connections noticed within 25 s by default).
    public var keepalive: GRPCConnectionSettings = .default

    public init(
        distributorHost: String,
        distributorPort: Int,
        proxyID: String,
        service: String,
        token: String,
        datacenter: String = "dc1",
        distributorCAPEM: String? = nil,
        otherDistributors: [(host: String, port: Int)] = []
    ) {
        self.otherDistributors = otherDistributors
        self.distributorHost = distributorHost
        self.distributorPort = distributorPort
        self.proxyID = proxyID
        self.service = service
        self.token = token
        self.datacenter = datacenter
        self.distributorCAPEM = distributorCAPEM
    }

    /// Every distributor address, the first one first.
    var replicas: [(host: String, port: Int)] {
        [(host: self.distributorHost, port: self.distributorPort)] + self.otherDistributors
    }
}
