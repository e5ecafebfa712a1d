import GRPCCore
public import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOSSL

/// How a mesh component authenticates a control-plane service it dials.
public enum ClientTLS: Sendable, Hashable {
    /// Between control-plane services: our certificate and key as the client's identity, the
    /// server's certificate checked against the CA file and for the name of the service dialled.
    case mutual(certificatePath: String, keyPath: String, caPath: String)
    /// From a proxy or an agent (which have no certificate from the control plane's CA; their
    /// token authenticates them): the server's certificate checked against the CA and for the
    /// name of the service dialled.
    case server(caPEM: String)
}

/// Plaintext gRPC was asked for towards an address that is not loopback: the token would travel
/// in clear.
public struct PlaintextDialRefused: Error, CustomStringConvertible {
    public let service: ControlPlaneName
    public let host: String

    public var description: String {
        "refusing plaintext gRPC to \(self.service.rawValue) at \(self.host): outside loopback, TLS is "
            + "required (give the control plane's CA certificate)"
    }

    /// Throws unless TLS is given or every replica is on loopback.
    public static func check(
        _ service: ControlPlaneName,
        replicas: [(host: String, port: Int)],
        hasTLS: Bool
    ) throws(PlaintextDialRefused) {
        guard !hasTLS else { return }
        if let outside = replicas.first(where: { !GRPCTarget.isLoopback($0.host) }) {
            throw PlaintextDialRefused(service: service, host: outside.host)
        }
    }
}

extension HTTP2ClientTransport.Posix {
    /// A client transport to a control-plane service, with keepalive (``GRPCConnectionSettings``).
    /// With `tls`, the peer must present a certificate from the CA that names `service` as a DNS
    /// name (``PeerNameCheck``), whatever address was dialled; without, every replica must be on
    /// loopback (else ``PlaintextDialRefused``).
    public static func dialing(
        _ service: ControlPlaneName,
        at replicas: [(host: String, port: Int)],
        tls: ClientTLS?,
        settings: GRPCConnectionSettings = .default,
        backoff: HTTP2ClientTransport.Config.Backoff? = nil
    ) throws -> HTTP2ClientTransport.Posix {
        var config = HTTP2ClientTransport.Posix.Config.mesh(settings, backoff: backoff)
        let security: TransportSecurity
        try PlaintextDialRefused.check(service, replicas: replicas, hasTLS: tls != nil)
        switch tls {
        case .none:
            security = .plaintext
        case .mutual(let certificatePath, let keyPath, let caPath):
            security = .mTLS(
                certificateChain: [.file(path: certificatePath, format: .pem)],
                privateKey: .file(path: keyPath, format: .pem)
            ) { tls in
                tls.trustRoots = .certificates([.file(path: caPath, format: .pem)])
                tls.serverCertificateVerification = .noHostnameVerification
            }
        case .server(let caPEM):
            security = .tls { tls in
                tls.trustRoots = .certificates([.bytes(Array(caPEM.utf8), format: .pem)])
                tls.serverCertificateVerification = .noHostnameVerification
            }
        }
        if tls != nil {
            // The chain is checked against the CA by the TLS handler; the name here, and only as a
            // DNS name (hostname verification would also accept a certificate that merely carries
            // the dialled IP address).
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                    try channel.pipeline.syncOperations.addHandler(
                        PeerNameCheck(accepted: [service.rawValue]),
                        position: .after(handler)
                    )
                }
            }
        }
        return try HTTP2ClientTransport.Posix(
            target: GRPCTarget.of(replicas),
            transportSecurity: security,
            config: config,
            serviceConfig: ServiceConfig(loadBalancingConfig: replicas.count > 1 ? [.roundRobin] : [])
        )
    }
}
