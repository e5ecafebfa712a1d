public import GRPCNIOTransportHTTP2Posix
public import MeshNet
public import MeshRPC

extension HTTP2ClientTransport.Posix {
    /// A client transport from one control-plane service to `service` at `address` (on ECS the
    /// services reach each other through a load balancer's name; without one, the replicas'
    /// addresses, balanced round robin): mutual TLS with our
    /// certificate, the peer's checked for `service`'s name; without TLS, loopback only.
    /// Keepalive pings notice a dead connection (and so end a watch on it) within 25 s.
    public static func to(
        _ address: ServiceAddress,
        service: ControlPlaneName,
        tls: TLSFiles?
    ) throws -> HTTP2ClientTransport.Posix {
        try .dialing(service, at: address.pairs, tls: tls?.clientTLS)
    }
}
