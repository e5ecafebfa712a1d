import Logging
import MeshCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import Prometheus

/// The public listener's per-connection handler, after the TLS server handler.
///
/// Once the handshake has verified the client's chain, it reads the peer's SPIFFE ID, applies the
/// intentions (a denied connection is closed without a byte, as Envoy's RBAC network filter does:
/// curl reports "Empty reply from server"), connects to the local app and splices the two.
/// Bytes that arrive before the app connection is up are held and sent first.
///
/// On a confirmed connection (ALPN ``ProxyTLS/confirmedTCPProtocol`` or
/// ``ProxyTLS/confirmedSpareProtocol``) the first byte sent back is a ``PeerStatus``: accepted
/// once the app took the connection (before any byte of the app's), denied before closing for
/// the intentions, unavailable before closing when the app refused (or there is no config), so
/// that the calling proxy sends the held request elsewhere instead of failing it.
final class InboundHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private enum State {
        case handshaking
        /// A spare (ALPN ``ProxyTLS/spareProtocol``): waits for the activation byte before anything else.
        case awaitingActivation
        case connecting
        case closed
    }

    private let runtime: ProxyRuntime
    private var state = State.handshaking
    private var held: [ByteBuffer] = []
    /// Whether the peer expects a ``PeerStatus`` byte first (the ALPN it chose).
    private var confirms = false
    /// Closes a spare that was never put to use (see ``ProxyOptions/spareActivationTimeout``).
    private var activationDeadline: Scheduled<Void>?

    init(runtime: ProxyRuntime) {
        self.runtime = runtime
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        guard case .awaitingActivation = self.state else {
            self.held.append(buffer)
            return
        }
        guard buffer.readInteger(as: UInt8.self) == ProxyTLS.spareActivation else {
            self.runtime.logger.info("spare connection sent no activation byte; closed")
            self.close(context: context)
            return
        }
        if buffer.readableBytes > 0 { self.held.append(buffer) }
        self.state = .handshaking
        self.activationDeadline?.cancel()
        self.runtime.spareDone(context.channel)
        self.admit(context: context, negotiated: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event {
            self.handshakeCompleted(context: context, negotiated: negotiated)
        }
        if event is SpareRetired { self.retireSpare(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    /// A spare not put to use is closed (the drain, or its activation deadline) with "unavailable"
    /// first: the peer may be activating it at this very moment, and its request, which nothing
    /// here will read, must go to another endpoint rather than fail (a plain close ended such a
    /// request with a reset during a rolling deploy).
    private func retireSpare(context: ChannelHandlerContext) {
        guard case .awaitingActivation = self.state else { return }
        self.activationDeadline?.cancel()
        self.runtime.spareDone(context.channel)
        self.close(context: context, status: .unavailable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .handshaking = self.state {
            self.runtime.metrics.serverHandshakeFailures.increment()
            self.runtime.logger.debug(
                "inbound TLS handshake failed",
                metadata: [LogKey.peer: "\(context.remoteAddress.map { "\($0)" } ?? "?")", LogKey.error: "\(error)"]
            )
        }
        self.state = .closed
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .awaitingActivation = self.state { self.runtime.spareDone(context.channel) }
        self.activationDeadline?.cancel()
        self.state = .closed
        context.fireChannelInactive()
    }

    private func handshakeCompleted(context: ChannelHandlerContext, negotiated: String?) {
        self.runtime.metrics.serverHandshakes.increment()
        self.confirms = ProxyTLS.confirms(negotiated)
        if ProxyTLS.isSpare(negotiated) {
            // Made ahead of need by the peer: nothing happens until it is put to use.
            self.state = .awaitingActivation
            guard self.runtime.spareWaiting(context.channel) else {
                self.retireSpare(context: context)
                return
            }
            let channel = context.channel
            let runtime = self.runtime
            self.activationDeadline = context.eventLoop.scheduleTask(
                in: TimeAmount(runtime.options.spareActivationTimeout)
            ) {
                runtime.metrics.sparesExpired.increment()
                channel.pipeline.fireUserInboundEventTriggered(SpareRetired())
            }
            return
        }
        self.admit(context: context, negotiated: negotiated)
    }

    /// Identity, then by the service's protocol: HTTP/2, HTTP, or the intentions and the app.
    private func admit(context: ChannelHandlerContext, negotiated: String?) {
        let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
        guard let source = certificate.flatMap(PeerIdentity.spiffeID(of:)) else {
            self.runtime.metrics.identityMismatches.increment()
            self.runtime.logger.info("inbound connection without a SPIFFE service identity closed")
            self.close(context: context, status: .denied)
            return
        }
        // One read of the config: every decision about this connection is made on one version.
        guard let config = self.runtime.config else {
            self.close(context: context, status: .unavailable)
            return
        }
        if config.mode != .opaque {
            // HTTP services: the trust domain here, the intentions per request after.
            guard config.trusts(source) else {
                self.runtime.metrics.intentionDenials.increment()
                self.close(context: context, status: .denied)
                return
            }
            // Requests are answered one by one from here (a caller configured for `tcp` while
            // this side serves HTTP still gets its status first).
            self.sendStatus(.accepted, context: context)
            switch (config.mode, negotiated) {
            case (.http2, _): self.switchToHTTP2(context: context, source: source)
            case (_, "h2"): self.switchToHTTP1OverH2(context: context, source: source)
            default: self.switchToHTTP(context: context, source: source)
            }
            return
        }
        if let reason = config.refusal(ofConnectionFrom: source) {
            self.runtime.metrics.intentionDenials.increment()
            self.runtime.logger.info(
                "inbound connection denied by intentions",
                metadata: [LogKey.source: "\(source)", LogKey.reason: "\(reason)"]
            )
            self.close(context: context, status: .denied)
            return
        }
        self.state = .connecting
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        self.connectApp(context: context, host: self.runtime.options.appHost, port: config.appPort)
    }

    /// HTTP services: decode requests and let the HTTP handler authorize each one.
    private func switchToHTTP(context: ChannelHandlerContext, source: SPIFFEID) {
        do {
            let sync = context.pipeline.syncOperations
            try Pipelines.addHTTP1Server(
                InboundHTTPHandler(runtime: self.runtime, source: source),
                after: self,
                to: sync
            )
            let held = self.held
            self.held = []
            for buffer in held { context.fireChannelRead(NIOAny(buffer)) }
            sync.removeHandler(context: context, promise: nil)
        } catch {
            self.close(context: context)
        }
    }

    /// An `http` service called by a proxy that multiplexes (ALPN h2): each stream is one
    /// HTTP/1.1 request to the app, authorized on its own by ``InboundHTTPHandler``.
    private func switchToHTTP1OverH2(context: ChannelHandlerContext, source: SPIFFEID) {
        let runtime = self.runtime
        let pool = NIOLoopBound(AppHTTP1Pool(), eventLoop: context.eventLoop)
        context.channel.closeFuture.whenComplete { _ in pool.value.close() }
        self.switchToHTTP2(context: context) { stream in
            let sync = stream.pipeline.syncOperations
            try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
            try sync.addHandler(InboundHTTPHandler(runtime: runtime, source: source, pool: pool.value))
        }
    }

    /// HTTP/2 and gRPC services: each stream is a request, authorized on its own
    /// (``H2RequestHandler``); allowed ones share one HTTP/2 connection to the app.
    private func switchToHTTP2(context: ChannelHandlerContext, source: SPIFFEID) {
        let runtime = self.runtime
        let app = NIOLoopBound(AppH2Connection(eventLoop: context.eventLoop), eventLoop: context.eventLoop)
        context.channel.closeFuture.whenComplete { _ in app.value.close() }
        self.switchToHTTP2(context: context) { stream in
            try stream.pipeline.syncOperations.addHandler(
                H2RequestHandler(runtime: runtime, side: .inbound(source: source, app: app))
            )
        }
    }

    /// Puts an HTTP/2 server after this handler (the last one), whose streams `configure` sets
    /// up, hands it the bytes held so far and leaves.
    private func switchToHTTP2(
        context: ChannelHandlerContext,
        configure: @escaping @Sendable (any Channel) throws -> Void
    ) {
        do {
            try Pipelines.addHTTP2Server(to: context.pipeline.syncOperations, streams: configure)
            let held = self.held
            self.held = []
            for buffer in held { context.fireChannelRead(NIOAny(buffer)) }
            context.fireChannelReadComplete()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            self.close(context: context)
        }
    }

    private func connectApp(context: ChannelHandlerContext, host: String, port: Int) {
        let metrics = self.runtime.metrics
        Pipelines.dialler(on: context.eventLoop, timeout: TimeAmount(self.runtime.options.connectTimeout))
            .connect(host: host, port: port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let app):
                    guard case .connecting = self.state, context.channel.isActive else {
                        app.close(promise: nil)
                        return
                    }
                    do {
                        // Before any byte of the app's: the caller may now let go of its copy.
                        self.sendStatus(.accepted, context: context)
                        let (downstream, upstream) = GlueHandler.matchedPair(
                            bytesFirst: metrics.inboundBytesRx,
                            bytesSecond: metrics.inboundBytesTx
                        )
                        try context.pipeline.syncOperations.addHandler(downstream, position: .after(self))
                        try app.pipeline.syncOperations.addHandler(upstream)
                        for buffer in self.held {
                            metrics.inboundBytesRx.increment(by: Int64(buffer.readableBytes))
                            app.write(buffer, promise: nil)
                        }
                        self.held = []
                        app.flush()
                        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                        try context.channel.syncOptions?.setOption(.autoRead, value: true)
                    } catch {
                        app.close(promise: nil)
                        self.close(context: context)
                    }
                case .failure(let error):
                    metrics.appConnectFailures.increment()
                    self.runtime.logger.warning(
                        "local app refused an inbound connection",
                        metadata: [LogKey.app: "\(host):\(port)", LogKey.error: "\(error)"]
                    )
                    // Nothing of the caller's reached the app: it may send it to another instance.
                    self.close(context: context, status: .unavailable)
                }
            }
    }

    /// Writes the status byte, on a confirmed connection only (once); nil when none is due.
    @discardableResult
    private func sendStatus(_ status: PeerStatus, context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        guard self.confirms else { return nil }
        self.confirms = false
        var byte = context.channel.allocator.buffer(capacity: 1)
        byte.writeInteger(status.rawValue)
        return context.writeAndFlush(NIOAny(byte))
    }

    /// Closes, after the status byte when the peer expects one.
    private func close(context: ChannelHandlerContext, status: PeerStatus? = nil) {
        self.state = .closed
        self.held = []
        guard let status, let written = self.sendStatus(status, context: context) else {
            context.close(promise: nil)
            return
        }
        written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

/// Tells a spare's ``InboundHandler`` to close it as unavailable unless it was put to use.
struct SpareRetired: Sendable {}
