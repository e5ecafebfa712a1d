public import MeshNet
public import MeshRPC
public import MeshServer
public import MeshStore

/// What every control-plane service is configured with, whatever it serves.
///
/// Each service's own config embeds one of these; `main` resolves it from flags and `MESH_*`
/// variables (`--database-url`, `--grpc-addr`, `--http-addr`, `--advertise-addr`).
public struct HostSettings: Sendable {
    /// The executable's name, used in logs and as the REST server's name.
    public var name: String
    public var database: DatabaseSettings
    public var grpcAddress: HostPort
    public var httpAddress: HostPort
    /// The address other replicas and `/v1/status` show for this replica (default: the bound gRPC address).
    public var advertiseAddress: String?
    /// How often a non-leader replica tries to become leader.
    public var leaderRetryInterval: Duration
    /// How often the stable index is checked for changes no notification announced.
    public var feedSafetyInterval: Duration
    /// How long in-flight RPCs may run after shutdown begins.
    public var drainTimeout: Duration
    /// TLS for both listeners (mutual for gRPC); plaintext when nil (loopback only).
    public var tls: TLSFiles?
    /// Connection caps, handshake and idle deadlines, gRPC keepalive.
    public var limits: ServerLimits

    public init(
        name: String,
        database: DatabaseSettings,
        grpcAddress: HostPort,
        httpAddress: HostPort,
        advertiseAddress: String? = nil,
        leaderRetryInterval: Duration = .seconds(1),
        feedSafetyInterval: Duration = .seconds(10),
        drainTimeout: Duration = .seconds(10),
        tls: TLSFiles? = nil,
        limits: ServerLimits = .default
    ) {
        self.tls = tls
        self.limits = limits
        self.name = name
        self.database = database
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.advertiseAddress = advertiseAddress
        self.leaderRetryInterval = leaderRetryInterval
        self.feedSafetyInterval = feedSafetyInterval
        self.drainTimeout = drainTimeout
    }

    /// The listeners' part of these settings.
    public var server: ServerSettings {
        ServerSettings(
            name: self.name,
            grpcAddress: self.grpcAddress,
            httpAddress: self.httpAddress,
            drainTimeout: self.drainTimeout,
            tls: self.tls,
            limits: self.limits,
            grpcClients: .controlPlane
        )
    }

    /// The address replicas are known by.
    public var advertised: String { self.advertiseAddress ?? self.grpcAddress.description }
}
