import Logging
import MeshCore
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus

/// An upstream listener's per-connection handler: the app connected (reads are off), so pick an
/// endpoint, open mTLS to its public listener, check that it is the destination service, then splice.
///
/// A connection that fails before any byte was sent (TCP connect, TLS handshake, wrong identity)
/// ejects that endpoint from the local rotation and is retried once on another one; nothing was
/// read from the app yet, so the retry is invisible to it.
final class OutboundHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Attempts per app connection: the first and one retry elsewhere.
    static let maxAttempts = 2

    private let runtime: ProxyRuntime
    private let service: String

    init(runtime: ProxyRuntime, service: String) {
        self.runtime = runtime
        self.service = service
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        self.connect(context: context, attempt: 1, excluding: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func connect(context: ChannelHandlerContext, attempt: Int, excluding: ProxyEndpoint?) {
        let metrics = self.runtime.metrics
        guard let route = self.runtime.route(for: self.service),
            let endpoint = route.balancer.pick(excluding: excluding)
        else {
            metrics.noHealthyEndpoint.increment()
            self.runtime.logger.warning("no endpoint for upstream", metadata: ["upstream": "\(self.service)"])
            context.close(promise: nil)
            return
        }
        let handshake = context.eventLoop.makePromise(of: Void.self)
        let tls = route.tls.client
        let timeout = TimeAmount(self.runtime.options.connectTimeout)
        let connected = ClientBootstrap(group: context.eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    try sync.addHandler(HandshakeWaiter(promise: handshake))
                }
            }
            .connect(host: endpoint.address, port: endpoint.port)
        connected.whenFailure { handshake.fail($0) }
        let deadline = context.eventLoop.scheduleTask(in: timeout) {
            handshake.fail(ChannelError.connectTimeout(timeout))
        }
        connected.and(handshake.futureResult).assumeIsolated().whenComplete { result in
            deadline.cancel()
            let failure: String
            switch result {
            case .success(let (upstream, _)):
                let peer = (try? upstream.pipeline.syncOperations.nioSSL_peerCertificate())
                    .flatMap { $0 }
                    .flatMap(PeerIdentity.spiffeID(of:))
                if let peer, peer.uri == route.expectedIdentity.uri {
                    metrics.clientHandshakes.increment()
                    route.balancer.succeeded(endpoint)
                    upstream.closeFuture.whenComplete { _ in route.balancer.release(endpoint) }
                    self.splice(context: context, upstream: upstream)
                    return
                }
                metrics.identityMismatches.increment()
                failure = "peer identity \(peer?.uri ?? "none") is not \(route.expectedIdentity.uri)"
                upstream.close(promise: nil)
            case .failure(let error):
                metrics.clientHandshakeFailures.increment()
                failure = "\(error)"
                connected.whenSuccess { $0.close(promise: nil) }
            }
            let retry = self.runtime.endpointFailed(
                endpoint,
                of: route,
                upstream: self.service,
                attempt: attempt,
                reason: failure
            )
            if retry, context.channel.isActive {
                self.connect(context: context, attempt: attempt + 1, excluding: endpoint)
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func splice(context: ChannelHandlerContext, upstream: any Channel) {
        guard context.channel.isActive else {
            upstream.close(promise: nil)
            return
        }
        let metrics = self.runtime.metrics
        do {
            let (app, remote) = GlueHandler.matchedPair(
                bytesFirst: metrics.outboundBytesTx,
                bytesSecond: metrics.outboundBytesRx
            )
            try context.pipeline.syncOperations.addHandler(app, position: .after(self))
            try upstream.pipeline.syncOperations.addHandler(remote)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            try context.channel.syncOptions?.setOption(.autoRead, value: true)
        } catch {
            upstream.close(promise: nil)
            context.close(promise: nil)
        }
    }
}
