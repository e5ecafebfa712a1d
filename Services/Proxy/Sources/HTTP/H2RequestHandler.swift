import Logging
import MeshCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import Prometheus

/// The first handler of every request stream of an `http2` or `grpc` service, on either side of
/// the mesh. It holds the request's frames while it decides where the request goes, opens the
/// continuation stream there, joins the two with a ``StreamGlue`` pair and leaves.
///
/// - Outbound (the app's stream on an upstream listener): each request picks its own endpoint
///   (per-request balancing) and rides the pooled mTLS HTTP/2 connection to it; a connection that
///   fails before the request was sent ejects the endpoint and the request is tried once elsewhere.
/// - Inbound (a peer proxy's stream on the public listener): the L7 intentions decide the request
///   (a denial is answered 403, or for gRPC PERMISSION_DENIED); an allowed one goes to the app over
///   one clear-text HTTP/2 connection per peer connection, with the caller's identity in
///   `x-forwarded-client-cert`.
///
/// While the continuation stream is being opened (up to the connect timeout when the far side is
/// slow to accept), the request stream is not read: HTTP/2 flow control holds the caller at its
/// stream window instead of the proxy holding whatever it sends.
final class H2RequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    enum Side {
        case outbound(service: String)
        case inbound(source: SPIFFEID, app: NIOLoopBound<AppH2Connection>)
    }

    private enum State {
        case awaitingHeaders
        case opening(held: [HTTP2Frame.FramePayload], grpc: Bool)
        case done
    }

    private let runtime: ProxyRuntime
    private let side: Side
    private var state = State.awaitingHeaders
    private var readGate = ReadGate()

    init(runtime: ProxyRuntime, side: Side) {
        self.runtime = runtime
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = Self.unwrapInboundIn(data)
        switch self.state {
        case .awaitingHeaders:
            guard case .headers(let frame) = payload else { return }
            let grpc = frame.headers.first(name: "content-type")?.hasPrefix("application/grpc") ?? false
            switch self.side {
            case .outbound(let service):
                self.state = .opening(held: [payload], grpc: grpc)
                self.openUpstream(context: context, service: service, attempt: 1, excluding: nil)
            case .inbound(let source, let app):
                self.runtime.metrics.httpRequests.increment()
                var headers = frame.headers
                switch self.admit(frame.headers, source: source) {
                case .forward(let target, let dropping):
                    // Rebuilt in order: pseudo-headers must stay ahead of the others.
                    headers = HPACKHeaders(
                        frame.headers.compactMap { name, value, _ in
                            name == ":path" ? (name, target) : dropping.contains(name) ? nil : (name, value)
                        }
                    )
                case .denied:
                    self.runtime.metrics.intentionDenials.increment()
                    self.answer(
                        context: context,
                        grpc: grpc,
                        status: 403,
                        grpcStatus: 7,
                        message: "RBAC: access denied"
                    )
                    return
                case .badRequest:
                    self.runtime.metrics.badRequests.increment()
                    // HTTP 400 maps to gRPC INTERNAL (13), as Envoy's local replies do.
                    self.answer(context: context, grpc: grpc, status: 400, grpcStatus: 13, message: "Bad Request")
                    return
                case .redirect(let target):
                    self.answer(
                        context: context,
                        grpc: grpc,
                        status: 307,
                        grpcStatus: 13,
                        message: "",
                        location: target
                    )
                    return
                }
                headers.replaceOrAdd(name: "x-forwarded-client-cert", value: "URI=\(source.uri)")
                var forwarded = frame
                forwarded.headers = headers
                self.state = .opening(held: [.headers(forwarded)], grpc: grpc)
                self.openApp(context: context, app: app)
            }
        case .opening(var held, let grpc):
            held.append(payload)
            self.state = .opening(held: held, grpc: grpc)
        case .done:
            return
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        let opening = if case .opening = self.state { true } else { false }
        if self.readGate.admit(blocked: opening) { context.read() }
    }

    /// Leaves the opening state; returns whether a read was held meanwhile (the caller issues it
    /// once the frames it delivers have somewhere to go).
    private func finishOpening() -> Bool {
        self.state = .done
        return self.readGate.release()
    }

    /// The runtime's admission of a peer's request (untrusted trust domains are denied).
    private func admit(_ headers: HPACKHeaders, source: SPIFFEID) -> ProxyConfig.RequestAdmission {
        self.runtime.config?.admit(
            source: source,
            method: headers.first(name: ":method") ?? "",
            target: headers.first(name: ":path") ?? "",
            headers: headers.filter { !$0.name.hasPrefix(":") }.map { (name: $0.name, value: $0.value) }
        ) ?? .denied
    }

    /// Answers the stream here (denied, bad request, redirect) and counts it.
    private func answer(
        context: ChannelHandlerContext,
        grpc: Bool,
        status: Int,
        grpcStatus: Int,
        message: String,
        location: String? = nil
    ) {
        self.runtime.metrics.request(
            direction: "inbound",
            service: "",
            status: "\(status)",
            grpcStatus: grpc ? "\(grpcStatus)" : ""
        )
        self.state = .done
        LocalH2Response.send(
            on: context,
            grpc: grpc && location == nil,
            status: status,
            grpcStatus: grpcStatus,
            message: message,
            location: location
        )
    }

    // MARK: Outbound

    private func openUpstream(context: ChannelHandlerContext, service: String, attempt: Int, excluding: ProxyEndpoint?)
    {
        let metrics = self.runtime.metrics
        guard let route = self.runtime.route(for: service), let endpoint = route.balancer.pick(excluding: excluding)
        else {
            metrics.noHealthyEndpoint.increment()
            self.fail(context: context, service: service, message: "no healthy endpoint for \(service)")
            return
        }
        let client = self.runtime.h2Client(to: endpoint, of: route, on: context.eventLoop)
        client.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let client):
                route.balancer.succeeded(endpoint)
                let runtime = self.runtime
                let loop = context.eventLoop
                self.splice(
                    context: context,
                    over: client,
                    direction: "outbound",
                    service: service,
                    refused: { request, observe in
                        // The far app did not take it: out of rotation, as on a refused TCP
                        // connection, and the request (not processed) sent once elsewhere.
                        let retry = runtime.peerAppUnavailable(endpoint, of: route, upstream: service, attempt: 1)
                        guard retry else { return false }
                        return Self.resend(
                            request,
                            observe: observe,
                            service: service,
                            excluding: endpoint,
                            runtime: runtime,
                            on: loop
                        )
                    },
                    streamFailed: {
                        if attempt < OutboundHandler.maxAttempts, context.channel.isActive {
                            self.openUpstream(
                                context: context,
                                service: service,
                                attempt: attempt + 1,
                                excluding: endpoint
                            )
                        } else {
                            self.fail(context: context, service: service, message: "upstream stream refused")
                        }
                    },
                    finished: { route.balancer.release(endpoint) }
                )
            case .failure(let error):
                let retry = self.runtime.endpointFailed(
                    endpoint,
                    of: route,
                    upstream: service,
                    attempt: attempt,
                    error: error
                )
                if retry, context.channel.isActive {
                    self.openUpstream(context: context, service: service, attempt: attempt + 1, excluding: endpoint)
                } else {
                    self.fail(context: context, service: service, message: "upstream connect error")
                }
            }
        }
    }

    // MARK: Inbound

    private func openApp(context: ChannelHandlerContext, app: NIOLoopBound<AppH2Connection>) {
        app.value.client(runtime: self.runtime).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let client):
                self.splice(
                    context: context,
                    over: client,
                    direction: "inbound",
                    service: "",
                    streamFailed: { self.refuse(context: context) },
                    finished: {}
                )
            case .failure(let error):
                self.runtime.metrics.appConnectFailures.increment()
                self.runtime.logger.warning(
                    "local app refused an HTTP/2 connection",
                    metadata: [LogKey.error: "\(error)"]
                )
                // Nothing reached the app: REFUSED_STREAM tells the caller's proxy (which ejects
                // this endpoint) and its client (which may send it again) exactly that.
                self.refuse(context: context)
            }
        }
    }

    // MARK: Joining

    private func splice(
        context: ChannelHandlerContext,
        over client: H2Client,
        direction: String,
        service: String,
        refused: ((StreamGlue, @escaping (HTTP2Frame.FramePayload) -> Void) -> Bool)? = nil,
        streamFailed: (() -> Void)? = nil,
        finished: @escaping @Sendable () -> Void
    ) {
        guard case .opening(_, let grpc) = self.state, context.channel.isActive else {
            finished()
            return
        }
        let metrics = self.runtime.metrics
        // Counted when the response's END_STREAM is read (before the caller can see it), or as
        // "reset" when the stream closes without one.
        let observed = NIOLoopBoundBox(ResponseStatus(), eventLoop: context.eventLoop)
        let count: @Sendable () -> Void = {
            guard !observed.value.counted else { return }
            observed.value.counted = true
            let status = observed.value
            metrics.request(
                direction: direction,
                service: service,
                status: status.status.isEmpty ? "reset" : status.status,
                grpcStatus: status.grpcStatus
            )
        }
        let observe: (HTTP2Frame.FramePayload) -> Void = { payload in
            if observed.value.observe(payload) { count() }
        }
        let (local, remote) = StreamGlue.matchedPair(
            observeSecond: observe,
            secondRefused: refused.map { refused in { request in refused(request, observe) } }
        )
        client.openStream(NIOLoopBound(remote, eventLoop: context.eventLoop)).assumeIsolated().whenComplete {
            result in
            switch result {
            case .success(let stream):
                stream.closeFuture.whenComplete { _ in
                    finished()
                    count()
                }
                guard context.channel.isActive else {
                    stream.close(promise: nil)
                    return
                }
                do {
                    try context.pipeline.syncOperations.addHandler(local, position: .after(self))
                } catch {
                    stream.close(promise: nil)
                    context.close(promise: nil)
                    return
                }
                // Frames that arrived while the stream was being opened are held too.
                guard case .opening(let held, _) = self.state else {
                    stream.close(promise: nil)
                    return
                }
                local.alreadyRead(held)
                remote.forward(held)
                let readHeld = self.finishOpening()
                let channel = context.channel
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                // Through the glue now, which reads on while the other side can take more.
                if readHeld { channel.read() }
            case .failure:
                finished()
                remote.unlink()
                // Nothing was sent on it (the connection was going away): as a refused stream.
                if let streamFailed {
                    streamFailed()
                } else {
                    self.fail(context: context, service: service, message: "upstream stream refused", grpc: grpc)
                }
            }
        }
    }

    /// Sends a refused request's kept frames to another endpoint of `service` (once: the new
    /// stream is not retried again); false when there is none or the request cannot be resent.
    private static func resend(
        _ request: StreamGlue,
        observe: @escaping (HTTP2Frame.FramePayload) -> Void,
        service: String,
        excluding refused: ProxyEndpoint,
        runtime: ProxyRuntime,
        on loop: any EventLoop
    ) -> Bool {
        guard request.canResend, let route = runtime.route(for: service),
            let endpoint = route.balancer.pick(excluding: refused)
        else { return false }
        let client = runtime.h2Client(to: endpoint, of: route, on: loop)
        client.assumeIsolated().whenComplete { result in
            guard case .success(let client) = result else {
                if case .failure(let error) = result {
                    _ = runtime.endpointFailed(endpoint, of: route, upstream: service, attempt: 2, error: error)
                }
                route.balancer.release(endpoint)
                request.refuse()
                return
            }
            route.balancer.succeeded(endpoint)
            let responder = StreamGlue.responder(observe: observe)
            client.openStream(NIOLoopBound(responder, eventLoop: loop)).assumeIsolated().whenComplete { opened in
                switch opened {
                case .success(let stream):
                    stream.closeFuture.whenComplete { _ in route.balancer.release(endpoint) }
                    if !request.resend(through: responder) { stream.close(promise: nil) }
                case .failure:
                    route.balancer.release(endpoint)
                    request.refuse()
                }
            }
        }
        return true
    }

    /// Resets the stream with REFUSED_STREAM: the request was not processed, and may be sent again.
    private func refuse(context: ChannelHandlerContext) {
        if self.finishOpening() { context.read() }
        self.runtime.metrics.request(direction: "inbound", service: "", status: "refused", grpcStatus: "")
        context.refuseStream()
    }

    private func fail(context: ChannelHandlerContext, service: String, message: String, grpc: Bool? = nil) {
        let isGRPC: Bool
        if let grpc {
            isGRPC = grpc
        } else if case .opening(_, let grpc) = self.state {
            isGRPC = grpc
        } else {
            isGRPC = false
        }
        if self.finishOpening() { context.read() }
        let direction = if case .outbound = self.side { "outbound" } else { "inbound" }
        self.runtime.metrics.request(
            direction: direction,
            service: service,
            status: "503",
            grpcStatus: isGRPC ? "14" : ""
        )
        LocalH2Response.send(on: context, grpc: isGRPC, status: 503, grpcStatus: 14, message: message)
    }
}

/// The clear-text HTTP/2 connection from the public listener to the local app, one per peer
/// connection (so the app sees as many connections as there are callers' proxies), opened at the
/// first allowed request and again after the app closed it.
final class AppH2Connection {
    private var open: H2Client?
    private var pending: EventLoopFuture<H2Client>?
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func client(runtime: ProxyRuntime) -> EventLoopFuture<H2Client> {
        if let open = self.open, open.isActive { return self.eventLoop.makeSucceededFuture(open) }
        if let pending = self.pending { return pending }
        guard let port = runtime.config?.appPort else {
            return self.eventLoop.makeFailedFuture(ChannelError.connectPending)
        }
        let future = H2Client.connect(
            host: runtime.options.appHost,
            port: port,
            on: self.eventLoop,
            tls: nil,
            expectedIdentity: nil,
            timeout: TimeAmount(runtime.options.connectTimeout)
        )
        self.pending = future
        future.assumeIsolated().whenComplete { result in
            self.pending = nil
            if case .success(let client) = result { self.open = client }
        }
        return future
    }

    func close() {
        self.open?.channel.close(promise: nil)
        self.open = nil
        self.pending?.whenSuccess { $0.channel.close(promise: nil) }
    }
}
