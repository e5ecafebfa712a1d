public import MeshNet
public import MeshRPC
public import MeshServer
public import MeshStore

/// catalog-svc's settings, resolved once in `main`.
///
/// - `--database-url` / `MESH_DATABASE_URL` (or libpq's `PG*` variables): required
/// - `--grpc-addr` / `MESH_GRPC_ADDR` (default 127.0.0.1:8502), `--http-addr` / `MESH_HTTP_ADDR`
///   (default 127.0.0.1:8500); port 0 picks a free port, and the bound ports are logged
/// - `--datacenter` / `MESH_DATACENTER` (default dc1)
/// - `--advertise-addr` / `MESH_ADVERTISE_ADDR`: the address other replicas and `/v1/status`
///   show for this replica (default: the bound gRPC address)
/// - `--authz-addr` / `MESH_AUTHZ_ADDR`: authz-svc's gRPC address; with it every call is
///   authorized by its token, without it ACLs are off (as in Consul without `acl.enabled`)
public struct CatalogConfig: Sendable {
    public var database: DatabaseSettings
    public var grpcAddress: HostPort
    public var httpAddress: HostPort
    public var datacenter: String
    public var advertiseAddress: String?
    /// authz-svc's gRPC address; ACLs are enforced when set (`--authz-addr` / `MESH_AUTHZ_ADDR`).
    public var authzAddress: HostPort?
    /// TLS for the listeners and for calls to other services (`--tls-*-file`); nil: plaintext on loopback.
    public var tls: TLSFiles?
    /// Connection caps, handshake and idle deadlines, gRPC keepalive (`ServerLimits.default`).
    public var limits: ServerLimits = .default
    /// How often a non-leader replica tries to become leader.
    public var leaderRetryInterval: Duration
    /// The longest the leader sleeps between TTL sweeps.
    public var reapInterval: Duration
    /// How long tombstones of deletes are kept for blocking queries before GC.
    public var tombstoneTTL: Duration
    /// How often the stable index is checked for changes no notification announced.
    public var feedSafetyInterval: Duration
    /// How long in-flight RPCs may run after shutdown begins.
    public var drainTimeout: Duration = .seconds(10)

    public init(
        database: DatabaseSettings,
        grpcAddress: HostPort = HostPort(host: "127.0.0.1", port: 8502),
        httpAddress: HostPort = HostPort(host: "127.0.0.1", port: 8500),
        datacenter: String = "dc1",
        advertiseAddress: String? = nil,
        leaderRetryInterval: Duration = .seconds(1),
        reapInterval: Duration = .milliseconds(500),
        tombstoneTTL: Duration = .seconds(900),
        feedSafetyInterval: Duration = .seconds(10)
    ) {
        self.database = database
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.datacenter = datacenter
        self.advertiseAddress = advertiseAddress
        self.leaderRetryInterval = leaderRetryInterval
        self.reapInterval = reapInterval
        self.tombstoneTTL = tombstoneTTL
        self.feedSafetyInterval = feedSafetyInterval
    }
}
