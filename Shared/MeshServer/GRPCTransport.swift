import Foundation
public import GRPCNIOTransportHTTP2Posix
import MeshNet
public import MeshRPC

extension HTTP2ClientTransport.Posix {
    /// A client transport to `address`: an IP address is dialled as is (TLS then sends no SNI,
    /// which may not carry an IP), a name is resolved by DNS (on ECS the services reach each
    /// other through a load balancer's name). Keepalive pings notice a dead connection (and so
    /// end a watch on it) within 25 s.
    public static func to(
        _ address: HostPort,
        security: HTTP2ClientTransport.Posix.TransportSecurity
    ) throws -> HTTP2ClientTransport.Posix {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if inet_pton(AF_INET, address.host, &ipv4) == 1 {
            return try HTTP2ClientTransport.Posix(
                target: .ipv4(address: address.host, port: address.port),
                transportSecurity: security,
                config: .mesh()
            )
        }
        if inet_pton(AF_INET6, address.host, &ipv6) == 1 {
            return try HTTP2ClientTransport.Posix(
                target: .ipv6(address: address.host, port: address.port),
                transportSecurity: security,
                config: .mesh()
            )
        }
        return try HTTP2ClientTransport.Posix(
            target: .dns(host: address.host, port: address.port),
            transportSecurity: security,
            config: .mesh()
        )
    }
}
