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
///
/// On a confirmed connection (``ProxyTLS/confirms(_:)``) the app's bytes go out at once, and a
/// copy is kept until the peer's ``PeerStatus`` byte: accepted, and the two are spliced; the
/// peer's app unavailable (stopped, not yet out of the catalog), and the endpoint is ejected and
/// the same bytes go to another one, so the app sees an answer instead of a reset; denied, and
/// the app's connection closes as before.
final class OutboundHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Attempts per app connection: the first and one retry elsewhere.
    static let maxAttempts = 2
    /// The app's bytes kept for a resend while the peer has not confirmed; past it, the app is
    /// not read until the peer answers. The L7 paths keep as much of a request for a resend after
    /// a refused stream (``StreamGlue``, ``OutboundHTTP1Handler``).
    static let maxCopied = 64 << 10

    private let runtime: ProxyRuntime
    private let service: String
    /// The app's bytes sent (or to send) on a connection the peer has not confirmed yet.
    private var copies: [ByteBuffer] = []
    private var copiedBytes = 0
    /// The upstream connection whose status byte is awaited (the app is read meanwhile).
    private var unconfirmed: (any Channel)?

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

    /// The app's bytes before the peer confirmed: kept, and sent when a connection is open.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        self.copies.append(buffer)
        self.copiedBytes += buffer.readableBytes
        self.unconfirmed?.write(buffer, promise: nil)
        if self.copiedBytes >= Self.maxCopied { try? context.channel.syncOptions?.setOption(.autoRead, value: false) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.unconfirmed?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.unconfirmed?.close(promise: nil)
        self.unconfirmed = nil
        context.fireChannelInactive()
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
            self.connected(
                context: context,
                upstream: spare,
                route: route,
                endpoint: endpoint,
                key: key,
                attempt: attempt
            )
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
                self.connected(
                    context: context,
                    upstream: upstream,
                    route: route,
                    endpoint: endpoint,
                    key: key,
                    attempt: attempt
                )
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
        key: SparePool.Key,
        attempt: Int
    ) {
        route.balancer.succeeded(endpoint)
        let channel = upstream.channel
        channel.closeFuture.whenComplete { _ in route.balancer.release(endpoint) }
        if ProxyTLS.isSpare(upstream.negotiatedProtocol) {
            var activation = channel.allocator.buffer(capacity: 1)
            activation.writeInteger(ProxyTLS.spareActivation)
            channel.writeAndFlush(activation, promise: nil)
        }
        if ProxyTLS.confirms(upstream.negotiatedProtocol) {
            self.awaitStatus(context: context, upstream: channel, route: route, endpoint: endpoint, attempt: attempt)
        } else {
            self.splice(context: context, upstream: channel, first: nil)
        }
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

    /// Sends what the app sent so far, reads the app on, and waits for the peer's status byte.
    private func awaitStatus(
        context: ChannelHandlerContext,
        upstream: any Channel,
        route: ProxyConfig.Route,
        endpoint: ProxyEndpoint,
        attempt: Int
    ) {
        guard context.channel.isActive else {
            upstream.close(promise: nil)
            return
        }
        let reader = PeerStatusReader { status, first in
            self.unconfirmed = nil
            switch status {
            case .accepted?:
                self.copies = []
                self.copiedBytes = 0
                self.splice(context: context, upstream: upstream, first: first)
            case .unavailable?:
                upstream.close(promise: nil)
                let retry = self.runtime.peerAppUnavailable(
                    endpoint,
                    of: route,
                    upstream: self.service,
                    attempt: attempt
                )
                if retry, context.channel.isActive {
                    self.connect(context: context, attempt: attempt + 1, excluding: endpoint)
                } else {
                    context.close(promise: nil)
                }
            case .denied?, nil:
                upstream.close(promise: nil)
                context.close(promise: nil)
            }
        }
        do {
            try upstream.pipeline.syncOperations.addHandler(reader)
        } catch {
            upstream.close(promise: nil)
            context.close(promise: nil)
            return
        }
        self.unconfirmed = upstream
        for copy in self.copies { upstream.write(copy, promise: nil) }
        upstream.flush()
        if self.copiedBytes < Self.maxCopied { try? context.channel.syncOptions?.setOption(.autoRead, value: true) }
    }

    /// Splices the app and `upstream`; `first` (what came after the peer's status byte) goes to
    /// the app before anything else.
    private func splice(context: ChannelHandlerContext, upstream: any Channel, first: ByteBuffer?) {
        guard context.channel.isActive else {
            upstream.close(promise: nil)
            return
        }
        if let first, first.readableBytes > 0 { context.writeAndFlush(NIOAny(first), promise: nil) }
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
