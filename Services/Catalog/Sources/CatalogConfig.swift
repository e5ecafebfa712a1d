public import MeshRPC
public import MeshStoreHost

/// catalog-svc's settings, resolved once in `main`: the host's (`HostOptions`: database,
/// listeners, advertise address, TLS) and its own.
///
/// - `--grpc-addr` default 127.0.0.1:8502, `--http-addr` default 127.0.0.1:8500
/// - `--datacenter` / `MESH_DATACENTER` (default dc1)
/// - `--authz-addr` / `MESH_AUTHZ_ADDR`: authz-svc's gRPC address; with it every call is
///   authorized by its token, without it ACLs are off (as in Consul without `acl.enabled`)
public struct CatalogConfig: Sendable {
    public var host: HostSettings
    public var datacenter: String
    /// authz-svc's gRPC address; ACLs are enforced when set.
    public var authzAddress: ServiceAddress?
    /// The longest the leader sleeps between TTL sweeps.
    public var reapInterval: Duration
    /// How long tombstones of deletes are kept for blocking queries before GC.
    public var tombstoneTTL: Duration

    public init(
        host: HostSettings,
        datacenter: String = "dc1",
        authzAddress: ServiceAddress? = nil,
        reapInterval: Duration = .milliseconds(500),
        tombstoneTTL: Duration = .seconds(900)
    ) {
        self.host = host
        self.host.name = "catalog-svc"
        self.datacenter = datacenter
        self.authzAddress = authzAddress
        self.reapInterval = reapInterval
        self.tombstoneTTL = tombstoneTTL
    }
}
