public import GRPCCore
public import GRPCNIOTransportHTTP2Posix
public import Logging
import MeshCore
public import MeshRPC
public import ServiceLifecycle

/// How a service (other than authz-svc) enforces ACLs: through authz-svc when its address is
/// configured, not at all otherwise (as Consul without `acl.enabled`, with a warning).
public struct ACLEnforcement: Sendable {
    /// The gate REST and gRPC handlers ask.
    public let gate: ACLGate
    /// Services to run beside the servers (the ACL watch).
    public let services: [any Service]
    /// True once the ACL state has arrived (always true when ACLs are off).
    public let isReady: @Sendable () -> Bool
    /// The interceptor that resolves `x-consul-token` on every gRPC call (none when ACLs are off).
    public let interceptors: [any ServerInterceptor]
    /// The gRPC connection to authz-svc (nil when ACLs are off), running as part of `services`.
    public let authzClient: GRPCClient<HTTP2ClientTransport.Posix>?

    /// - Parameter resolveTimeout: the deadline of one token resolution at authz-svc.
    public init(
        authzAddress: ServiceAddress?,
        tls: TLSFiles?,
        resolveTimeout: Duration = .seconds(5),
        logger: Logger
    ) throws {
        guard let authzAddress else {
            logger.warning("ACLs are off: no --authz-addr / MESH_AUTHZ_ADDR given")
            self.gate = .disabled
            self.services = []
            self.isReady = { true }
            self.interceptors = []
            self.authzClient = nil
            return
        }
        // Until authz-svc tells us which policy applies, deny (the secure default).
        let remote = try RemoteACL(
            authzAddress: authzAddress,
            defaultPolicy: .deny,
            tls: tls,
            resolveTimeout: resolveTimeout,
            logger: logger
        )
        self.gate = remote.gate
        self.services = [remote]
        self.isReady = { remote.synced.current == true }
        self.interceptors = [ACLInterceptor(gate: remote.gate)]
        self.authzClient = remote.grpc
    }
}
