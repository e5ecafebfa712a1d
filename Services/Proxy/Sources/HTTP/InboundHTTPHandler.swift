import Logging
import MeshCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Prometheus

/// The public listener of an `http` service, after TLS and the peer's identity: requests are
/// decoded (NIOHTTP1, one at a time: `HTTPServerPipelineHandler` holds pipelined ones back), each
/// is authorized with the L7 intentions (Envoy's RBAC HTTP filter: a denied request gets
/// `403 RBAC: access denied` and the connection stays open), and allowed ones go to the app over
/// one keep-alive connection per downstream connection, re-opened when the app closes it. When
/// the requests are the streams of a multiplexing peer's HTTP/2 connection (one handler per
/// stream), the app connections are shared through an ``AppHTTP1Pool``: a stream takes an idle
/// one and gives it back when its response has ended.
///
/// Both directions have backpressure (``ReadGate``): the peer's request body is read only as
/// fast as the app takes it, and the app's response only as fast as the peer takes it.
final class InboundHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Current {
        case idle
        /// Forwarding to the app; parts that arrive before the app connection is up are held.
        case forwarding(held: [HTTPClientRequestPart])
        /// Answered here once the request has been read: 403 (denied), 400 or 307.
        case answering(HTTPResponseStatus, body: String, location: String?)
    }

    private let runtime: ProxyRuntime
    private let source: SPIFFEID
    private let sourceURI: String
    private var current = Current.idle
    /// The app connection in use; its relay tells ``appClosed(_:context:)`` when it closes (no
    /// close callback per request: a pooled connection outlives many requests).
    private var app: (any Channel)?
    /// The relay of the app connection in use (to release its held reads).
    private var relay: AppResponseRelay?
    private var keepAlive = true
    /// The peer's reads, held while the request being forwarded cannot go on.
    private var reads = ReadGate()
    private let pool: AppHTTP1Pool?

    init(runtime: ProxyRuntime, source: SPIFFEID, pool: AppHTTP1Pool? = nil) {
        self.runtime = runtime
        self.source = source
        self.sourceURI = source.uri
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.keepAlive = head.isKeepAlive
            self.runtime.metrics.httpRequests.increment()
            let admission =
                self.runtime.config?.admit(
                    source: self.source,
                    method: head.method.rawValue,
                    target: head.uri,
                    headers: head.headers.map { (name: $0.name, value: $0.value) }
                ) ?? .denied
            var forwarded = head
            switch admission {
            case .forward(let target, let dropping):
                forwarded.uri = target
                for name in dropping { forwarded.headers.remove(name: name) }
            case .denied:
                self.runtime.metrics.intentionDenials.increment()
                self.current = .answering(.forbidden, body: "RBAC: access denied", location: nil)
                return
            case .badRequest:
                self.runtime.metrics.badRequests.increment()
                self.current = .answering(.badRequest, body: "Bad Request", location: nil)
                return
            case .redirect(let target):
                self.current = .answering(.temporaryRedirect, body: "", location: target)
                return
            }
            // A request that came over HTTP/2 (a multiplexing peer proxy) goes to the app as HTTP/1.1.
            forwarded.version = .http1_1
            forwarded.headers.replaceOrAdd(name: "X-Forwarded-Client-Cert", value: "URI=\(self.sourceURI)")
            self.current = .forwarding(held: [.head(forwarded)])
            self.connectIfNeeded(context: context)
        case .body(let body):
            self.append(.body(.byteBuffer(body)), context: context)
        case .end(let trailers):
            if case .answering(let status, let body, let location) = self.current {
                self.current = .idle
                self.respond(context: context, status: status, body: body, location: location)
                return
            }
            self.append(.end(trailers), context: context)
        }
    }

    private func append(_ part: HTTPClientRequestPart, context: ChannelHandlerContext) {
        guard case .forwarding(var held) = self.current else { return }
        if let app = self.app, app.isActive, held.isEmpty {
            app.writeAndFlush(part, promise: nil)
        } else {
            held.append(part)
            self.current = .forwarding(held: held)
            self.flushHeld()
        }
    }

    private func flushHeld() {
        guard case .forwarding(let held) = self.current, let app = self.app, app.isActive, !held.isEmpty else { return }
        for part in held { app.write(part, promise: nil) }
        app.flush()
        self.current = .forwarding(held: [])
    }

    /// Whether the peer's next read must wait: a request is being forwarded and its app
    /// connection is not up yet or cannot take more.
    private var readsBlocked: Bool {
        guard case .forwarding = self.current else { return false }
        return !(self.app?.isWritable ?? false)
    }

    func read(context: ChannelHandlerContext) {
        if self.reads.admit(blocked: self.readsBlocked) { context.read() }
    }

    /// The app connection can take more (or is up): the peer's held read goes on.
    fileprivate func appWritable(context: ChannelHandlerContext) {
        if !self.readsBlocked, self.reads.release() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.relay?.downstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    private func connectIfNeeded(context: ChannelHandlerContext) {
        if let app = self.app, app.isActive {
            self.flushHeld()
            return
        }
        if let pool = self.pool, let (app, relay) = pool.take() {
            relay.attach(downstream: context, owner: self)
            self.app = app
            self.relay = relay
            self.flushHeld()
            self.appWritable(context: context)
            return
        }
        guard let port = self.runtime.config?.appPort else {
            self.respond(context: context, status: .serviceUnavailable, body: "no upstream app\n")
            return
        }
        let responses = AppResponseRelay(downstream: context, owner: self)
        Pipelines.dialler(on: context.eventLoop, timeout: TimeAmount(self.runtime.options.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                }
            }
            .connect(host: self.runtime.options.appHost, port: port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let app):
                    guard context.channel.isActive else {
                        app.close(promise: nil)
                        return
                    }
                    do {
                        try app.pipeline.syncOperations.addHandler(responses)
                    } catch {
                        app.close(promise: nil)
                        context.close(promise: nil)
                        return
                    }
                    self.app = app
                    self.relay = responses
                    self.flushHeld()
                    self.appWritable(context: context)
                case .failure:
                    self.runtime.metrics.appConnectFailures.increment()
                    self.current = .idle
                    self.refuse(context: context)
                }
            }
    }

    /// Nothing reached the app: a peer proxy's stream is reset with REFUSED_STREAM (so the
    /// caller's proxy ejects this endpoint and sends the request elsewhere, as on the http2 and
    /// grpc paths); a plain HTTP/1.1 peer gets a 503.
    private func refuse(context: ChannelHandlerContext) {
        guard self.pool != nil,
            let codec = try? context.pipeline.syncOperations.context(
                handlerType: HTTP2FramePayloadToHTTP1ServerCodec.self
            )
        else {
            self.respond(context: context, status: .serviceUnavailable, body: "upstream connect error\n")
            return
        }
        self.runtime.metrics.request(direction: "inbound", service: "", status: "refused", grpcStatus: "")
        // Written below the codec, which speaks HTTP/1 parts only.
        codec.refuseStream()
    }

    /// The app connection closed.
    fileprivate func appClosed(_ app: any Channel, context: ChannelHandlerContext) {
        guard self.app === app else { return }
        self.app = nil
        self.relay = nil
        // The app went away mid-request: the client cannot get its answer.
        if case .forwarding = self.current { context.close(promise: nil) }
    }

    /// The app's response ended: the next request may be read; a pooled app connection that
    /// stays open goes back to the pool.
    fileprivate func responseEnded(
        context: ChannelHandlerContext,
        written: EventLoopFuture<Void>,
        reusable: Bool,
        relay: AppResponseRelay
    ) {
        self.current = .idle
        self.appWritable(context: context)
        if let pool = self.pool, let app = self.app {
            self.app = nil
            self.relay = nil
            if reusable, app.isActive {
                relay.detach()
                pool.giveBack(app, relay: relay)
            } else {
                app.close(promise: nil)
            }
        }
        // `Connection: close`: once the response is out (closing at once would drop what is queued).
        if !self.keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func respond(
        context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        body: String,
        location: String? = nil
    ) {
        // Not once the connection is closing (a request the parser refused was answered 400
        // by NIO's error handler: a second response would corrupt the stream).
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        if let location { headers.add(name: "Location", value: location) }
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if !self.keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let keepAlive = self.keepAlive
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.app?.close(promise: nil)
        self.app = nil
        self.relay = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Relays the app's response parts to the downstream connection (on the same event loop). A
/// pooled app connection's relay is re-attached to each request that takes the connection.
final class AppResponseRelay: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart

    private var downstream: ChannelHandlerContext?
    private var owner: InboundHTTPHandler?
    /// Whether the app keeps the connection open after this response.
    private var reusable = true
    /// The app connection's own context, and its reads, held while the peer cannot take more.
    private var context: ChannelHandlerContext?
    private var reads = ReadGate()

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if self.reads.admit(blocked: !(self.downstream?.channel.isWritable ?? true)) { context.read() }
    }

    /// The peer can take more of the response.
    fileprivate func downstreamWritable() {
        if let context = self.context, self.reads.release() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let downstream = self.downstream {
            self.owner?.appWritable(context: downstream)
        }
        context.fireChannelWritabilityChanged()
    }

    fileprivate init(downstream: ChannelHandlerContext, owner: InboundHTTPHandler) {
        self.downstream = downstream
        self.owner = owner
    }

    fileprivate func attach(downstream: ChannelHandlerContext, owner: InboundHTTPHandler) {
        self.downstream = downstream
        self.owner = owner
        self.downstreamWritable()
    }

    fileprivate func detach() {
        self.downstream = nil
        self.owner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let downstream = self.downstream else {
            // Nothing is asked of an idle pooled connection: a stray response ends it.
            context.close(promise: nil)
            return
        }
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.reusable = head.isKeepAlive
            var response = HTTPResponseHead(version: .http1_1, status: head.status, headers: head.headers)
            response.headers.remove(name: "Connection")
            downstream.write(NIOAny(HTTPServerResponsePart.head(response)), promise: nil)
        case .body(let body):
            downstream.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        case .end(let trailers):
            // The owner is idle before the end goes out: writing it releases the next pipelined
            // request at once (HTTPServerPipelineHandler), which must find the owner ready.
            let written = downstream.eventLoop.makePromise(of: Void.self)
            self.owner?.responseEnded(
                context: downstream,
                written: written.futureResult,
                reusable: self.reusable,
                relay: self
            )
            downstream.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers)), promise: written)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let downstream = self.downstream { self.owner?.appClosed(context.channel, context: downstream) }
        self.detach()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
        self.downstream?.close(promise: nil)
    }
}

/// Idle keep-alive HTTP/1.1 connections to the app, shared by the request streams of one peer
/// connection (all on its event loop); closed with it.
final class AppHTTP1Pool {
    private var idle: [(channel: any Channel, relay: AppResponseRelay)] = []
    private var closed = false

    /// An open idle connection and its relay, or nil.
    fileprivate func take() -> (any Channel, AppResponseRelay)? {
        while let entry = self.idle.popLast() {
            if entry.channel.isActive { return (entry.channel, entry.relay) }
        }
        return nil
    }

    fileprivate func giveBack(_ channel: any Channel, relay: AppResponseRelay) {
        guard !self.closed else {
            channel.close(promise: nil)
            return
        }
        // A connection the app closes while idle is dropped at the next take (no close callback
        // per give-back: one connection is given back once per request).
        self.idle.removeAll { !$0.channel.isActive }
        self.idle.append((channel, relay))
    }

    func close() {
        self.closed = true
        for entry in self.idle { entry.channel.close(promise: nil) }
        self.idle = []
    }
}
