import Logging
import MeshCore
import MeshNet
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Prometheus
import Synchronization

/// The proxy's bound listeners, changed only by ``ProxyRuntime/apply(_:tls:)`` and the drain.
actor ListenerSet {
    private struct Bound {
        let channel: any Channel
        let requestedPort: Int
        let boundPort: Int
    }

    private var publicListener: Bound?
    private var upstreams: [String: Bound] = [:]
    private var closed = false

    var publicPort: Int? { self.publicListener?.boundPort }

    func upstreamPort(_ service: String) -> Int? { self.upstreams[service]?.boundPort }

    /// Binds what the snapshot adds (or moves), closes what it removes; all binds happen before
    /// any close, and a failed bind undoes this call's binds and throws.
    func reconcile(snapshot: ProxySnapshot, runtime: ProxyRuntime) async throws(ProxyError) {
        guard !self.closed else { return }
        var added: [String: Bound] = [:]
        var newPublic: Bound?
        do {
            if let host = runtime.options.publicBindHost,
                self.publicListener?.requestedPort != snapshot.publicPort
            {
                newPublic = try await Self.bindPublic(host: host, port: snapshot.publicPort, runtime: runtime)
            }
            for upstream in snapshot.upstreams
            where self.upstreams[upstream.service]?.requestedPort != upstream.localPort {
                added[upstream.service] = try await Self.bindUpstream(
                    host: runtime.options.upstreamBindHost,
                    port: upstream.localPort,
                    service: upstream.service,
                    runtime: runtime
                )
            }
        } catch {
            for bound in added.values { try? await bound.channel.close() }
            if let newPublic { try? await newPublic.channel.close() }
            throw error
        }
        if let newPublic {
            if let old = self.publicListener { try? await old.channel.close() }
            self.publicListener = newPublic
        }
        let wanted = Set(snapshot.upstreams.map(\.service))
        for (service, bound) in self.upstreams where !wanted.contains(service) || added[service] != nil {
            try? await bound.channel.close()
            self.upstreams[service] = nil
        }
        self.upstreams.merge(added) { _, new in new }
    }

    func closePublic() async {
        if let listener = self.publicListener { try? await listener.channel.close() }
        self.publicListener = nil
    }

    func closeAll() async {
        self.closed = true
        await self.closePublic()
        for bound in self.upstreams.values { try? await bound.channel.close() }
        self.upstreams = [:]
    }

    private static func bindPublic(host: String, port: Int, runtime: ProxyRuntime) async throws(ProxyError) -> Bound {
        let limits = runtime.options.publicLimits
        let counter = ConnectionCounter(limit: limits.maxConnections)
        let bootstrap = Pipelines.listener(on: runtime.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let tls = runtime.config?.tls.server else { throw ChannelError.ioOnClosedChannel }
                    runtime.metrics.inboundConnections.increment()
                    runtime.metrics.inboundActive.increment()
                    runtime.inboundOpen.add(1, ordering: .relaxed)
                    channel.closeFuture.whenComplete { _ in
                        runtime.metrics.inboundActive.decrement()
                        runtime.inboundOpen.subtract(1, ordering: .relaxed)
                    }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: tls))
                    try sync.addConnectionGuard(counter: counter, limits: limits)
                    try sync.addHandler(InboundHandler(runtime: runtime))
                }
            }
        return try await Self.bind(bootstrap, host: host, port: port, what: "public listener", runtime: runtime)
    }

    private static func bindUpstream(
        host: String,
        port: Int,
        service: String,
        runtime: ProxyRuntime
    ) async throws(ProxyError) -> Bound {
        let limits = runtime.options.upstreamLimits
        let counter = ConnectionCounter(limit: limits.maxConnections)
        let bootstrap = Pipelines.listener(on: runtime.group)
            // Nothing is read from the app until its upstream connection is up (so a retry is invisible).
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    runtime.metrics.outboundConnections.increment()
                    runtime.metrics.outboundActive.increment()
                    runtime.outboundOpen.add(1, ordering: .relaxed)
                    channel.closeFuture.whenComplete { _ in
                        runtime.metrics.outboundActive.decrement()
                        runtime.outboundOpen.subtract(1, ordering: .relaxed)
                    }
                    let sync = channel.pipeline.syncOperations
                    try sync.addConnectionGuard(counter: counter, limits: limits)
                    switch runtime.route(for: service)?.mode ?? .opaque {
                    case .opaque:
                        try sync.addHandler(OutboundHandler(runtime: runtime, service: service))
                    case .http1:
                        // Requests are read at once and routed one by one.
                        try channel.syncOptions?.setOption(.autoRead, value: true)
                        try Pipelines.addHTTP1Server(OutboundHTTP1Handler(runtime: runtime, service: service), to: sync)
                    case .http2:
                        try channel.syncOptions?.setOption(.autoRead, value: true)
                        try Pipelines.addHTTP2Server(to: sync) { stream in
                            try stream.pipeline.syncOperations.addHandler(
                                H2RequestHandler(runtime: runtime, side: .outbound(service: service))
                            )
                        }
                    }
                }
            }
        return try await Self.bind(
            bootstrap,
            host: host,
            port: port,
            what: "upstream listener \(service)",
            runtime: runtime
        )
    }

    private static func bind(
        _ bootstrap: ServerBootstrap,
        host: String,
        port: Int,
        what: String,
        runtime: ProxyRuntime
    ) async throws(ProxyError) -> Bound {
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            let bound = channel.localAddress?.port ?? port
            runtime.logger.info("\(what) listening", metadata: [LogKey.address: "\(host):\(bound)"])
            return Bound(channel: channel, requestedPort: port, boundPort: bound)
        } catch {
            throw ProxyError(.bindFailed, "\(what) on \(host):\(port): \(error)")
        }
    }
}
