import MeshCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A connection to another proxy's public listener, ready to carry traffic.
struct UpstreamConnection {
    let channel: any Channel
    /// The protocol ALPN chose (nil when none was offered or the peer chose none).
    let negotiatedProtocol: String?
}

/// Opens connections to other proxies (and, for HTTP/2 to the app, to the app in clear): TCP
/// connect, then the mTLS handshake, then the peer's SPIFFE ID checked against the destination
/// service, all within one timeout. Nothing is sent before all three succeeded, so a failure can
/// be retried elsewhere without the app noticing.
enum UpstreamDialer {
    static func connect(
        host: String,
        port: Int,
        on eventLoop: any EventLoop,
        tls: NIOSSLContext?,
        expectedIdentity: SPIFFEID?,
        timeout: TimeAmount
    ) -> EventLoopFuture<UpstreamConnection> {
        let handshake = eventLoop.makePromise(of: String?.self)
        let connected = Pipelines.dialler(on: eventLoop, timeout: timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                        try sync.addHandler(HandshakeWaiter(promise: handshake))
                    } else {
                        handshake.succeed(nil)
                    }
                }
            }
            .connect(host: host, port: port)
        connected.whenFailure { handshake.fail($0) }
        let deadline = eventLoop.scheduleTask(in: timeout) { handshake.fail(ChannelError.connectTimeout(timeout)) }
        return connected.and(handshake.futureResult).flatMapThrowing { channel, negotiated in
            deadline.cancel()
            if let expectedIdentity {
                let peer = (try? channel.pipeline.syncOperations.nioSSL_peerCertificate())
                    .flatMap { $0 }
                    .flatMap(PeerIdentity.spiffeID(of:))
                guard let peer, peer.uri == expectedIdentity.uri else {
                    channel.close(promise: nil)
                    throw ProxyError(
                        .identityMismatch,
                        "peer identity \(peer?.uri ?? "none") is not \(expectedIdentity.uri)"
                    )
                }
            }
            return UpstreamConnection(channel: channel, negotiatedProtocol: negotiated)
        }.flatMapErrorThrowing { error in
            deadline.cancel()
            connected.whenSuccess { $0.close(promise: nil) }
            throw error
        }
    }
}

/// Completes a promise with the ALPN choice when the TLS handshake on its channel finishes (or
/// fails), then leaves.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<String?>

    init(promise: EventLoopPromise<String?>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event {
            self.promise.succeed(negotiated)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
