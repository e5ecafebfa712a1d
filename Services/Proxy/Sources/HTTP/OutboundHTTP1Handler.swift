import Logging
import MeshCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import Prometheus

/// An upstream listener of an `http` service: the app's HTTP/1.1 requests are decoded (one at a
/// time per connection; `HTTPServerPipelineHandler` holds pipelined ones back) and each one picks
/// its own endpoint and rides a stream of the pooled mTLS HTTP/2 connection to it, so requests
/// are balanced one by one and many app connections share a few proxy-to-proxy connections
/// (linkerd2-proxy's design). A connection that fails before the request was sent ejects the
/// endpoint and the request is tried once elsewhere, and so is a request the far proxy refused
/// (RST_STREAM REFUSED_STREAM before any response: its app took nothing), from a copy of what was
/// sent (at most ``OutboundHandler/maxCopied`` bytes of body); what cannot be served gets a 503. Both
/// directions have backpressure (``ReadGate``): the app's request body is read only as fast as
/// the stream takes it (HTTP/2 flow control), the response only as fast as the app takes it.
final class OutboundHTTP1Handler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case opening(held: [HTTPClientRequestPart])
        case forwarding(stream: any Channel, relay: ResponseRelay, to: Destination)
        /// The request got a local answer; its remaining parts are dropped.
        case answered
    }

    /// Where a forwarded request went: a refusal ejects that endpoint.
    struct Destination {
        var endpoint: ProxyEndpoint
        var route: ProxyConfig.Route
        var attempt: Int
    }

    private let runtime: ProxyRuntime
    private let service: String
    private var state = State.idle
    /// What was sent of the request being forwarded, while it may still be sent again (nil once
    /// its body passed ``OutboundHandler/maxCopied``, or once it was sent twice).
    private var sent: [HTTPClientRequestPart]?
    private var sentBytes = 0
    private var keepAlive = true
    /// The app's reads, held while the request cannot go on.
    private var reads = ReadGate()

    init(runtime: ProxyRuntime, service: String) {
        self.runtime = runtime
        self.service = service
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(var head):
            self.keepAlive = head.isKeepAlive
            // HTTP/2 needs an authority; an HTTP/1.0 request may have come without Host.
            if !head.headers.contains(name: "host") { head.headers.add(name: "host", value: self.service) }
            head.headers.remove(name: "connection")
            self.state = .opening(held: [.head(head)])
            self.sent = []
            self.sentBytes = 0
            self.open(context: context, attempt: 1, excluding: nil)
        case .body(let body):
            self.forward(.body(.byteBuffer(body)))
        case .end(let trailers):
            self.forward(.end(trailers))
        }
    }

    private func forward(_ part: HTTPClientRequestPart) {
        switch self.state {
        case .opening(var held):
            held.append(part)
            self.state = .opening(held: held)
        case .forwarding(let stream, _, _):
            self.keep(part)
            stream.writeAndFlush(part, promise: nil)
        case .idle, .answered:
            return
        }
    }

    /// Keeps a copy of `part` for a resend, while the request's body is within ``OutboundHandler/maxCopied``.
    private func keep(_ part: HTTPClientRequestPart) {
        guard self.sent != nil else { return }
        if case .body(.byteBuffer(let body)) = part { self.sentBytes += body.readableBytes }
        if self.sentBytes > OutboundHandler.maxCopied {
            self.sent = nil
        } else {
            self.sent?.append(part)
        }
    }

    /// Whether the app's next read must wait: the stream is not open yet or cannot take more.
    private var readsBlocked: Bool {
        switch self.state {
        case .opening: true
        case .forwarding(let stream, _, _): !stream.isWritable
        case .idle, .answered: false
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.reads.admit(blocked: self.readsBlocked) { context.read() }
    }

    /// The stream can take more (or the request is over): the app's held read goes on.
    fileprivate func streamWritable(context: ChannelHandlerContext) {
        if !self.readsBlocked, self.reads.release() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(_, let relay, _) = self.state { relay.downstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The request is over either way (an opening one must not be answered any more).
        if case .forwarding(let stream, _, _) = self.state { stream.close(promise: nil) }
        self.state = .idle
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .forwarding(let stream, _, _) = self.state { stream.close(promise: nil) }
        self.state = .idle
        context.fireChannelInactive()
    }

    private func open(context: ChannelHandlerContext, attempt: Int, excluding: ProxyEndpoint?) {
        let metrics = self.runtime.metrics
        guard let route = self.runtime.route(for: self.service),
            let endpoint = route.balancer.pick(excluding: excluding)
        else {
            metrics.noHealthyEndpoint.increment()
            self.answer(
                context: context,
                status: .serviceUnavailable,
                body: "no healthy endpoint for \(self.service)\n"
            )
            return
        }
        self.runtime.h2Client(to: endpoint, of: route, on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let client):
                route.balancer.succeeded(endpoint)
                self.openStream(
                    context: context,
                    client: client,
                    to: Destination(endpoint: endpoint, route: route, attempt: attempt)
                ) { route.balancer.release(endpoint) }
            case .failure(let error):
                let retry = self.runtime.endpointFailed(
                    endpoint,
                    of: route,
                    upstream: self.service,
                    attempt: attempt,
                    error: error
                )
                guard case .opening = self.state else { return }
                if retry, context.channel.isActive {
                    self.open(context: context, attempt: attempt + 1, excluding: endpoint)
                } else {
                    self.answer(context: context, status: .serviceUnavailable, body: "upstream connect error\n")
                }
            }
        }
    }

    private func openStream(
        context: ChannelHandlerContext,
        client: H2Client,
        to destination: Destination,
        finished: @escaping @Sendable () -> Void
    ) {
        let relay = ResponseRelay(
            downstream: context,
            owner: self,
            service: self.service,
            metrics: self.runtime.metrics,
            connection: client
        )
        let configure: (any Channel) throws -> Void = { stream in
            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
            try stream.pipeline.syncOperations.addHandler(relay)
        }
        client.openStream(NIOLoopBound(configure, eventLoop: context.eventLoop)).assumeIsolated().whenComplete {
            result in
            switch result {
            case .success(let stream):
                stream.closeFuture.whenComplete { _ in finished() }
                guard case .opening(let held) = self.state, context.channel.isActive else {
                    stream.close(promise: nil)
                    return
                }
                self.state = .forwarding(stream: stream, relay: relay, to: destination)
                for part in held {
                    self.keep(part)
                    stream.write(part, promise: nil)
                }
                stream.flush()
                self.streamWritable(context: context)
            case .failure:
                finished()
                guard case .opening = self.state else { return }
                self.answer(context: context, status: .serviceUnavailable, body: "upstream stream refused\n")
            }
        }
    }

    /// The response ended: the next pipelined request may be read.
    fileprivate func responseEnded(context: ChannelHandlerContext, written: EventLoopFuture<Void>) {
        self.state = .idle
        self.streamWritable(context: context)
        if !self.keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The far proxy refused the request before any response (its app took nothing): the endpoint
    /// leaves the rotation and the request is sent once elsewhere from its copy; 503 when it
    /// cannot be (no other endpoint, a second refusal, a body past ``OutboundHandler/maxCopied``).
    fileprivate func streamRefused(context: ChannelHandlerContext) {
        guard case .forwarding(_, _, let destination) = self.state else { return }
        let retry = self.runtime.peerAppUnavailable(
            destination.endpoint,
            of: destination.route,
            upstream: self.service,
            attempt: destination.attempt
        )
        guard retry, let copy = self.sent, context.channel.isActive else {
            self.answer(context: context, status: .serviceUnavailable, body: "upstream app unavailable\n")
            return
        }
        self.sent = nil
        self.state = .opening(held: copy)
        self.open(context: context, attempt: destination.attempt + 1, excluding: destination.endpoint)
    }

    /// The upstream stream ended without a whole response: the app cannot get one on this connection.
    fileprivate func responseLost(context: ChannelHandlerContext) {
        guard case .forwarding = self.state else { return }
        self.state = .idle
        context.close(promise: nil)
    }

    /// Answers the request here. Not once the connection is closing: a request the HTTP parser
    /// refused was already answered 400 by NIO's error handler, and a second response written
    /// before the close completes would corrupt the stream (NIO asserts on it in debug builds).
    private func answer(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        guard context.channel.isActive else {
            self.state = .idle
            return
        }
        self.state = .answered
        self.streamWritable(context: context)
        self.runtime.metrics.request(
            direction: "outbound",
            service: self.service,
            status: "\(status.code)",
            grpcStatus: ""
        )
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain")
        headers.add(name: "content-length", value: "\(body.utf8.count)")
        if !self.keepAlive { headers.add(name: "connection", value: "close") }
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        self.responseEnded(context: context, written: written)
    }
}

/// Relays one request's response from its HTTP/2 stream (decoded to HTTP/1 parts) to the app's
/// connection, and counts it by status; the stream is read only as fast as the app takes the
/// response.
private final class ResponseRelay: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart

    private let downstream: ChannelHandlerContext
    private unowned let owner: OutboundHTTP1Handler
    private let service: String
    private let metrics: ProxyMetrics
    /// The connection the request's stream is on.
    private let connection: H2Client
    private var status = ""
    private var ended = false
    /// Reset with REFUSED_STREAM before any response: the owner sends it elsewhere.
    private var refused = false
    private var context: ChannelHandlerContext?
    private var reads = ReadGate()

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if self.reads.admit(blocked: !self.downstream.channel.isWritable) { context.read() }
    }

    /// The app can take more of the response.
    func downstreamWritable() {
        if let context = self.context, self.reads.release() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.owner.streamWritable(context: self.downstream) }
        context.fireChannelWritabilityChanged()
    }

    init(
        downstream: ChannelHandlerContext,
        owner: OutboundHTTP1Handler,
        service: String,
        metrics: ProxyMetrics,
        connection: H2Client
    ) {
        self.downstream = downstream
        self.owner = owner
        self.service = service
        self.metrics = metrics
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = "\(head.status.code)"
            let response = HTTPResponseHead(version: .http1_1, status: head.status, headers: head.headers)
            self.downstream.write(NIOAny(HTTPServerResponsePart.head(response)), promise: nil)
        case .body(let body):
            self.downstream.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        case .end(let trailers):
            self.ended = true
            self.metrics.request(direction: "outbound", service: self.service, status: self.status, grpcStatus: "")
            // The owner is idle before the end goes out: writing it releases the next pipelined request.
            let written = self.downstream.eventLoop.makePromise(of: Void.self)
            self.owner.responseEnded(context: self.downstream, written: written.futureResult)
            self.downstream.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers)), promise: written)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.ended && !self.refused {
            self.metrics.request(direction: "outbound", service: self.service, status: "reset", grpcStatus: "")
            self.owner.responseLost(context: self.downstream)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let closed = error as? NIOHTTP2Errors.StreamClosed, closed.unprocessed(on: self.connection),
            self.status.isEmpty, !self.ended, !self.refused
        {
            self.refused = true
            self.owner.streamRefused(context: self.downstream)
        }
        context.close(promise: nil)
    }
}
