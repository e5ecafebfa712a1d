public import Logging
public import MeshCore
public import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Synchronization

/// A running proxy: its listeners, the config in force and the per-upstream rotations.
///
/// The data path reads the config under a short lock at each new connection; ``apply(_:tls:)``
/// swaps it whole, so a connection sees one consistent version, and established connections keep
/// the TLS context and endpoint they started with (rotation and endpoint changes drop nothing).
public final class ProxyRuntime: Sendable {
    /// What an inbound connection gets after its identity was read.
    enum InboundVerdict {
        case allow(host: String, port: Int)
        case deny(String)
    }

    /// How connections to one upstream are made.
    struct Route: Sendable {
        let balancer: EndpointBalancer
        let expectedIdentity: SPIFFEID
        let tls: ProxyTLS
        let mode: UpstreamMode
    }

    /// How an upstream listener carries the app's traffic, by the upstream's protocol.
    enum UpstreamMode: Sendable {
        /// `tcp`: one mTLS connection per app connection, bytes spliced.
        case opaque
        /// `http`: HTTP/1.1 decoded, each request on a stream of a pooled HTTP/2 connection.
        case http1
        /// `http2` and `grpc`: the app's HTTP/2 streams, each on a stream of a pooled connection.
        case http2

        init(protocolName: String) {
            switch protocolName {
            case "http": self = .http1
            case "http2", "grpc": self = .http2
            default: self = .opaque
            }
        }
    }

    struct Config: Sendable {
        var snapshot: ProxySnapshot
        var tls: ProxyTLS
        var intentions: IntentionSet
        var routes: [String: Route]
    }

    public let options: ProxyOptions
    public let metrics: ProxyMetrics
    public let logger: Logger
    let group: any EventLoopGroup
    private let config = Mutex<Config?>(nil)
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

    /// The snapshot in force, if any.
    public var snapshot: ProxySnapshot? { self.config.withLock { $0?.snapshot } }

    /// Ready: a config is in force, its listeners are bound, and no drain has begun.
    public var isReady: Bool {
        self.config.withLock { $0 != nil } && !self.draining.load(ordering: .relaxed)
    }

    /// Puts `snapshot` and `tls` in force: validates them, then binds the listeners they add and
    /// closes the ones they remove. Throws (and changes nothing) when the snapshot is unusable, so
    /// the caller can NACK it and keep serving on the previous one.
    public func apply(_ snapshot: ProxySnapshot, tls: ProxyTLS) async throws(ProxyError) {
        let previous = self.config.withLock { $0 }
        var routes: [String: Route] = [:]
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
            routes[upstream.service] = Route(
                balancer: balancer,
                expectedIdentity: identity,
                tls: tls,
                mode: UpstreamMode(protocolName: upstream.protocolName)
            )
        }
        let next = Config(snapshot: snapshot, tls: tls, intentions: IntentionSet(snapshot.intentions), routes: routes)
        try await self.listeners.reconcile(snapshot: snapshot, runtime: self)
        self.config.withLock { $0 = next }
        self.h2Pool.keep(only: Set(snapshot.upstreams.flatMap(\.endpoints)))
        self.metrics.configApplied(version: snapshot.version)
        self.logger.info(
            "config applied",
            metadata: [
                "version": "\(snapshot.version)", "upstreams": "\(snapshot.upstreams.count)",
                "intentions": "\(snapshot.intentions.count)",
            ]
        )
    }

    /// The port the public listener is bound to (differs from the snapshot's when that was 0).
    public func boundPublicPort() async -> Int? { await self.listeners.publicPort }

    /// The port the upstream listener for `service` is bound to.
    public func boundUpstreamPort(_ service: String) async -> Int? { await self.listeners.upstreamPort(service) }

    /// The endpoints of `service` now out of rotation after failures.
    public func ejectedEndpoints(_ service: String) -> [ProxyEndpoint] {
        self.config.withLock { $0?.routes[service]?.balancer.ejected() } ?? []
    }

    /// An upstream endpoint's connection failed before it carried anything: counted, released,
    /// ejected from the local rotation at once (outlier detection) and logged. True when the
    /// caller may try once more elsewhere (`attempt` is below ``OutboundHandler/maxAttempts``).
    func endpointFailed(
        _ endpoint: ProxyEndpoint,
        of route: Route,
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
        route.balancer.eject(endpoint)
        self.logger.warning(
            "upstream endpoint failed; ejected from rotation",
            metadata: [
                "upstream": "\(upstream)", "endpoint": "\(endpoint.address):\(endpoint.port)",
                "attempt": "\(attempt)", "error": "\(error)",
            ]
        )
        return attempt < OutboundHandler.maxAttempts
    }

    func serverTLS() -> NIOSSLContext? { self.config.withLock { $0?.tls.server } }

    func route(for service: String) -> Route? { self.config.withLock { $0?.routes[service] } }

    /// Whether the public listener decodes HTTP/1.1 (the service's protocol is `http`).
    var servesHTTP: Bool { self.config.withLock { $0?.snapshot.protocolName == "http" } }

    /// Whether the public listener speaks HTTP/2 (the service's protocol is `http2` or `grpc`).
    var servesHTTP2: Bool {
        self.config.withLock { UpstreamMode(protocolName: $0?.snapshot.protocolName ?? "") == .http2 }
    }

    /// A peer of this trust domain? (HTTP services check intentions per request, after this.)
    func trusts(_ source: SPIFFEID) -> Bool {
        self.config.withLock { $0.map { source.trustDomain == $0.snapshot.trustDomain.lowercased() } ?? false }
    }

    /// What the public listener does with one request.
    enum RequestAdmission: Equatable {
        /// Send it to the app with this target (normalized) and without the headers named.
        case forward(target: String, dropping: [String])
        /// Answer 307 with this target as `Location`.
        case redirect(String)
        /// Answer 400; the reason is for the log.
        case badRequest(String)
        /// The L7 intentions deny it: 403.
        case denied
    }

    /// Envoy's HTTP connection manager then its RBAC filter: the request is normalized as the
    /// mesh's `RequestNormalization` says, and the L7 intentions decide on the normalized
    /// request, which is what the app receives. One read of the config serves both.
    func admit(
        source: IntentionServiceName,
        method: String,
        target: String,
        headers: [(name: String, value: String)]
    ) -> RequestAdmission {
        guard let config = self.config.withLock({ $0 }) else { return .denied }
        let normalization = config.snapshot.requestNormalization ?? .default
        var kept: [(name: String, value: String)] = []
        var dropping: [String] = []
        for header in headers {
            switch normalization.admits(headerNamed: header.name) {
            case .allow: kept.append(header)
            case .rejectRequest: return .badRequest("header name with an underscore")
            case .dropHeader: dropping.append(header.name)
            }
        }
        let normalized: String
        switch normalization.normalize(target: target) {
        case .forward(let path): normalized = path
        case .redirect(let path): return .redirect(path)
        case .reject(let reason): return .badRequest(reason)
        }
        let allowed = config.intentions.authorize(
            source: source,
            destination: IntentionServiceName(config.snapshot.service),
            request: IntentionHTTPRequest(method: method, path: normalized, headers: kept),
            defaultAllow: config.snapshot.defaultAllow
        ).allowed
        return allowed ? .forward(target: normalized, dropping: dropping) : .denied
    }

    /// Where the local app listens.
    func appAddress() -> InboundVerdict {
        guard let port = self.config.withLock({ $0?.snapshot.localAppPort }) else { return .deny("no config") }
        return .allow(host: self.options.appHost, port: port)
    }

    func authorizeInbound(source: SPIFFEID) -> InboundVerdict {
        guard let config = self.config.withLock({ $0 }) else { return .deny("no config") }
        guard source.trustDomain == config.snapshot.trustDomain.lowercased() else {
            return .deny("trust domain \(source.trustDomain) is not \(config.snapshot.trustDomain)")
        }
        let decision = config.intentions.authorizeConnection(
            source: IntentionServiceName(source),
            destination: IntentionServiceName(config.snapshot.service),
            defaultAllow: config.snapshot.defaultAllow
        )
        guard decision.allowed else { return .deny(decision.reason) }
        return .allow(host: self.options.appHost, port: config.snapshot.localAppPort)
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
    func spareWaiting(_ channel: any Channel) {
        if self.draining.load(ordering: .relaxed) {
            channel.close(promise: nil)
            return
        }
        self.waitingSpares.withLock { $0[ObjectIdentifier(channel)] = channel }
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
        for channel in channels { channel.close(promise: nil) }
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
            let channel = try await ClientBootstrap(group: self.group)
                .connectTimeout(.seconds(1))
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
