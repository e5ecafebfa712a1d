public import NIOCore
import NIOSSL
import NIOTLS
import SwiftASN1
import X509

/// Placed after a TLS handler that verified the peer's certificate chain against the CA (a
/// server's handler checking clients, or a client's checking the server): when the handshake
/// completes, closes the connection unless the peer's certificate names one of `accepted` as a
/// DNS subject alternative name. Nothing the peer sends passes before the check.
public final class PeerNameCheck: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    private let accepted: Set<String>
    private var passed = false

    public init(accepted: Set<String>) {
        self.accepted = accepted
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let peer = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            guard let peer, Self.names(of: peer).contains(where: self.accepted.contains) else {
                context.close(promise: nil)
                return
            }
            self.passed = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.passed else { return }
        context.fireChannelRead(data)
    }

    /// The DNS names a certificate carries as subject alternative names.
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        guard
            let bytes = try? certificate.toDERBytes(),
            let parsed = try? Certificate(derEncoded: bytes),
            let alternatives = try? parsed.extensions.subjectAlternativeNames
        else { return [] }
        return alternatives.compactMap {
            if case .dnsName(let name) = $0 { return name }
            return nil
        }
    }
}
