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
            self.runtime.logger.warning("no endpoint for upstream", metadata: [LogKey.upstream: "\(self.service)"])
            context.close(promise: nil)
            return
        }
        let key = SparePool.Key(loop: ObjectIdentifier(context.eventLoop), upstream: self.service, endpoint: endpoint)
        if let spare = self.runtime.spares.take(key, tls: route.tls.clientSpare, identity: route.expectedIdentity.uri) {
            metrics.sparesUsed.increment()
            self.connected(context: context, upstream: spare, route: route, endpoint: endpoint, key: key)
            return
        }
        UpstreamDialer.connect(
            host: endpoint.address,
            port: endpoint.port,
            on: context.eventLoop,
            tls: route.tls.client,
            expectedIdentity: route.expectedIdentity,
            timeout: TimeAmount(self.runtime.options.connectTimeout)
        ).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let upstream):
                metrics.clientHandshakes.increment()
                self.connected(context: context, upstream: upstream, route: route, endpoint: endpoint, key: key)
            case .failure(let error):
                let retry = self.runtime.endpointFailed(
                    endpoint,
                    of: route,
                    upstream: self.service,
                    attempt: attempt,
                    error: error
                )
                if retry, context.channel.isActive {
                    self.connect(context: context, attempt: attempt + 1, excluding: endpoint)
                } else {
                    context.close(promise: nil)
                }
            }
        }
    }

    /// The upstream connection is ready (dialed now or a spare): count it, splice it, and top the
    /// spares for its endpoint up.
    private func connected(
        context: ChannelHandlerContext,
        upstream: UpstreamConnection,
        route: ProxyConfig.Route,
        endpoint: ProxyEndpoint,
        key: SparePool.Key
    ) {
        route.balancer.succeeded(endpoint)
        let channel = upstream.channel
        channel.closeFuture.whenComplete { _ in route.balancer.release(endpoint) }
        if upstream.negotiatedProtocol == ProxyTLS.spareProtocol {
            var activation = channel.allocator.buffer(capacity: 1)
            activation.writeInteger(ProxyTLS.spareActivation)
            channel.writeAndFlush(activation, promise: nil)
        }
        self.splice(context: context, upstream: channel)
        let limit = self.runtime.options.spareConnections
        guard limit > 0 else { return }
        self.runtime.spares.track(channel, for: key)
        Self.topUp(key, route: route, endpoint: endpoint, runtime: self.runtime, on: context.eventLoop)
    }

    /// Dials spares for `key` one after another until the pool has what its policy asks for.
    private static func topUp(
        _ key: SparePool.Key,
        route: ProxyConfig.Route,
        endpoint: ProxyEndpoint,
        runtime: ProxyRuntime,
        on eventLoop: any EventLoop
    ) {
        guard runtime.spares.beginDial(key, limit: runtime.options.spareConnections) else { return }
        let tls = route.tls.clientSpare
        UpstreamDialer.connect(
            host: endpoint.address,
            port: endpoint.port,
            on: eventLoop,
            tls: tls,
            expectedIdentity: route.expectedIdentity,
            timeout: TimeAmount(runtime.options.connectTimeout)
        ).whenComplete { result in
            switch result {
            case .success(let spare):
                runtime.metrics.clientHandshakes.increment()
                runtime.spares.add(
                    spare,
                    for: key,
                    tls: tls,
                    identity: route.expectedIdentity.uri,
                    idleTimeout: TimeAmount(runtime.options.spareIdleTimeout)
                )
                Self.topUp(key, route: route, endpoint: endpoint, runtime: runtime, on: eventLoop)
            case .failure:
                // The next app connection dials (and ejects the endpoint if it fails too).
                runtime.spares.dialFailed(key)
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
