public import Logging
public import MeshCore
public import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Synchronization

/// A running proxy: its listeners, the config in force and the per-upstream rotations.
///
/// The data path reads the ``ProxyConfig`` in force under a short lock, once per new connection
/// (and per request on HTTP listeners); ``apply(_:tls:)`` swaps it whole, so each decision sees
/// one consistent version, and established connections keep the TLS context and endpoint they
/// started with (rotation and endpoint changes drop nothing).
public final class ProxyRuntime: Sendable {
    public let options: ProxyOptions
    public let metrics: ProxyMetrics
    public let logger: Logger
    let group: any EventLoopGroup
    private let current = Mutex<ProxyConfig?>(nil)
    private let listeners: ListenerSet
    private let draining = Atomic<Bool>(false)
    /// Pooled HTTP/2 connections to the endpoints of `http2` and `grpc` upstreams.
    let h2Pool: H2Pool
    /// Ready connections to the endpoints of `tcp` upstreams.
    let spares = SparePool()
    /// Peers' spares accepted on the public listener and not yet put to use: closed when the
    /// drain begins (they carry nothing, and would hold the drain to its deadline).
    private let waitingSpares = Mutex<[ObjectIdentifier: any Channel]>([:])
    let inboundOpen = Atomic<Int>(0)
    let outboundOpen = Atomic<Int>(0)

    public init(options: ProxyOptions, group: any EventLoopGroup, metrics: ProxyMetrics, logger: Logger) {
        self.options = options
        self.group = group
        self.metrics = metrics
        self.logger = logger
        self.listeners = ListenerSet()
        self.h2Pool = H2Pool(handshakes: metrics.clientHandshakes)
    }

    /// The config in force, if any: read it once and decide on it.
    var config: ProxyConfig? { self.current.withLock { $0 } }

    /// The snapshot in force, if any.
    public var snapshot: ProxySnapshot? { self.config?.snapshot }

    /// Ready: a config is in force, its listeners are bound, and no drain has begun.
    public var isReady: Bool {
        self.config != nil && !self.draining.load(ordering: .relaxed)
    }

    /// Puts `snapshot` and `tls` in force: validates them, then binds the listeners they add and
    /// closes the ones they remove. Throws (and changes nothing) when the snapshot is unusable, so
    /// the caller can NACK it and keep serving on the previous one.
    public func apply(_ snapshot: ProxySnapshot, tls: ProxyTLS) async throws(ProxyError) {
        let previous = self.config
        var routes: [String: ProxyConfig.Route] = [:]
        for upstream in snapshot.upstreams {
            guard let identity = SPIFFEID(uri: upstream.expectedIdentity) else {
                throw ProxyError(
                    .invalidConfig,
                    "upstream \(upstream.service): expected identity \"\(upstream.expectedIdentity)\" is not a SPIFFE service ID"
                )
            }
            guard routes[upstream.service] == nil else {
                throw ProxyError(.invalidConfig, "upstream \(upstream.service) is listed twice")
            }
            let balancer: EndpointBalancer
            if let existing = previous?.routes[upstream.service]?.balancer {
                existing.update(endpoints: upstream.endpoints)
                balancer = existing
            } else {
                balancer = EndpointBalancer(
                    endpoints: upstream.endpoints,
                    policy: self.options.balancing,
                    ejectionTime: self.options.ejectionTime
                )
            }
            routes[upstream.service] = ProxyConfig.Route(
                balancer: balancer,
                expectedIdentity: identity,
                tls: tls,
                mode: ProxyConfig.UpstreamMode(protocolName: upstream.protocolName)
            )
        }
        let next = ProxyConfig(snapshot: snapshot, tls: tls, routes: routes)
        try await self.listeners.reconcile(snapshot: snapshot, runtime: self)
        self.current.withLock { $0 = next }
        self.h2Pool.keep(only: Set(snapshot.upstreams.flatMap(\.endpoints)))
        self.metrics.configApplied(version: snapshot.version)
        self.logger.info(
            "config applied",
            metadata: [
                LogKey.version: "\(snapshot.version)", LogKey.upstreams: "\(snapshot.upstreams.count)",
                LogKey.intentions: "\(snapshot.intentions.count)",
            ]
        )
    }

    /// The port the public listener is bound to (differs from the snapshot's when that was 0).
    public func boundPublicPort() async -> Int? { await self.listeners.publicPort }

    /// The port the upstream listener for `service` is bound to.
    public func boundUpstreamPort(_ service: String) async -> Int? { await self.listeners.upstreamPort(service) }

    /// The endpoints of `service` now out of rotation after failures.
    public func ejectedEndpoints(_ service: String) -> [ProxyEndpoint] {
        self.config?.routes[service]?.balancer.ejected() ?? []
    }

    /// An upstream endpoint's connection failed before it carried anything: counted, released,
    /// ejected from the local rotation at once (outlier detection) and logged. True when the
    /// caller may try once more elsewhere (`attempt` is below ``OutboundHandler/maxAttempts``).
    func endpointFailed(
        _ endpoint: ProxyEndpoint,
        of route: ProxyConfig.Route,
        upstream: String,
        attempt: Int,
        error: any Error
    ) -> Bool {
        self.metrics.connectFailures.increment()
        if let error = error as? ProxyError, error.code == .identityMismatch {
            self.metrics.identityMismatches.increment()
        } else {
            self.metrics.clientHandshakeFailures.increment()
        }
        route.balancer.release(endpoint)
        return self.eject(
            endpoint,
            of: route,
            upstream: upstream,
            attempt: attempt,
            "upstream endpoint failed; ejected from rotation",
            error: error
        )
    }

    /// `endpoint`'s proxy said its app is unavailable (stopped, or not started): out of the local
    /// rotation for the ejection time, as a failed connection is; true when the caller may send
    /// the same bytes elsewhere (the app behind `endpoint` got none of them). The connection
    /// itself was established, so its close releases the endpoint.
    func peerAppUnavailable(
        _ endpoint: ProxyEndpoint,
        of route: ProxyConfig.Route,
        upstream: String,
        attempt: Int
    ) -> Bool {
        self.metrics.peerAppUnavailable.increment()
        return self.eject(
            endpoint,
            of: route,
            upstream: upstream,
            attempt: attempt,
            "upstream endpoint's app is unavailable; ejected from rotation"
        )
    }

    /// Takes `endpoint` out of the local rotation for the ejection time and logs why; true when
    /// the caller may try once more elsewhere.
    private func eject(
        _ endpoint: ProxyEndpoint,
        of route: ProxyConfig.Route,
        upstream: String,
        attempt: Int,
        _ message: Logger.Message,
        error: (any Error)? = nil
    ) -> Bool {
        route.balancer.eject(endpoint)
        var metadata: Logger.Metadata = [
            LogKey.upstream: "\(upstream)", LogKey.endpoint: "\(endpoint.address):\(endpoint.port)",
            LogKey.attempt: "\(attempt)",
        ]
        if let error { metadata[LogKey.error] = "\(error)" }
        self.logger.warning(message, metadata: metadata)
        return attempt < OutboundHandler.maxAttempts
    }

    func route(for service: String) -> ProxyConfig.Route? { self.config?.routes[service] }

    /// A pooled mTLS HTTP/2 connection to `endpoint` of `route` on `loop`, its peer's identity
    /// checked (made if there is none yet).
    func h2Client(
        to endpoint: ProxyEndpoint,
        of route: ProxyConfig.Route,
        on loop: any EventLoop
    )
        -> EventLoopFuture<H2Client>
    {
        self.h2Pool.client(
            for: endpoint,
            on: loop,
            tls: route.tls.clientH2,
            expectedIdentity: route.expectedIdentity,
            timeout: TimeAmount(self.options.connectTimeout)
        )
    }

    /// SIGTERM: stop accepting inbound connections at once, let open ones finish, keep the
    /// upstream listeners serving the app until it has exited (its port refuses connections) and
    /// its connections closed, or the drain deadline passes; then close everything.
    public func drain() async {
        self.draining.store(true, ordering: .relaxed)
        await self.listeners.closePublic()
        self.closeWaitingSpares()
        self.logger.info("draining: public listener closed")
        let deadline = ContinuousClock.now.advanced(by: self.options.drainDeadline)
        while ContinuousClock.now < deadline {
            let inbound = self.inboundOpen.load(ordering: .relaxed)
            let outbound = self.outboundOpen.load(ordering: .relaxed)
            if inbound == 0, outbound == 0, await !self.appIsUp() { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        await self.listeners.closeAll()
        self.h2Pool.closeAll()
        self.spares.closeAll()
        self.logger.info("drained")
    }

    /// Ready connections to upstream endpoints not in use now (all loops, all endpoints).
    public var sparesIdle: Int { self.spares.idleCounts.values.reduce(0, +) }

    /// A peer's spare waits on the public listener for its activation byte (or the drain).
    /// False when draining: then the spare is to be closed as unavailable at once.
    func spareWaiting(_ channel: any Channel) -> Bool {
        if self.draining.load(ordering: .relaxed) { return false }
        self.waitingSpares.withLock { $0[ObjectIdentifier(channel)] = channel }
        return true
    }

    /// The spare was put to use or closed.
    func spareDone(_ channel: any Channel) {
        _ = self.waitingSpares.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    private func closeWaitingSpares() {
        let channels = self.waitingSpares.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(SpareRetired()) }
    }

    /// Closes every listener at once (no drain); established connections run on until they end.
    public func stop() async {
        self.draining.store(true, ordering: .relaxed)
        await self.listeners.closeAll()
        self.h2Pool.closeAll()
        self.spares.closeAll()
        self.closeWaitingSpares()
    }

    /// Whether the local app still accepts connections (how a sidecar learns that the app exited).
    /// Only a refusal means it exited: a connect that merely timed out (a busy host) says nothing,
    /// and ending the drain on it would cut the app's last requests off.
    private func appIsUp() async -> Bool {
        guard await self.listeners.publicPort != nil || self.options.publicBindHost != nil,
            let port = self.snapshot?.localAppPort, port > 0
        else { return false }
        do {
            let channel = try await Pipelines.dialler(on: self.group.next(), timeout: .seconds(1))
                .connect(host: self.options.appHost, port: port).get()
            try? await channel.close()
            return true
        } catch ChannelError.connectTimeout {
            return true
        } catch {
            return false
        }
    }
}
