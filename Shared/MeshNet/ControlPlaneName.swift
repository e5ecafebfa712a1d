/// The five control-plane services, by the name each one's TLS certificate carries as a DNS
/// subject alternative name. A client dialling one checks that the peer's certificate names the
/// service it dialled (whatever address it dialled: on ECS every service sits behind one internal
/// balancer's name), and a control-plane gRPC server accepts only client certificates that name
/// one of these services.
public enum ControlPlaneName: String, Sendable, CaseIterable {
    case catalog = "catalog-svc"
    case ca = "ca-svc"
    case authz = "authz-svc"
    case iamAuth = "iam-auth-svc"
    case distributor = "config-distributor"

    /// Every control-plane service's name: the client identities a control-plane server accepts.
    public static var all: Set<String> { Set(Self.allCases.map(\.rawValue)) }
}
