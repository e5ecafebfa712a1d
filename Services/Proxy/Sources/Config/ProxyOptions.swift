public import MeshNet

/// How a proxy binds and behaves, apart from the config it is pushed (the ``ProxySnapshot``).
public struct ProxyOptions: Sendable {
    /// Where the public mTLS listener binds (`0.0.0.0` in a task; loopback in tests and the benchmark).
    /// `nil`: no public listener (an outbound-only proxy).
    public var publicBindHost: String?
    /// The host of the local application (the snapshot carries its port).
    public var appHost: String
    /// Where upstream listeners bind: loopback, so only the task's own app can use them.
    public var upstreamBindHost: String
    /// Bounds the TCP connect and the TLS handshake of every outgoing connection.
    public var connectTimeout: Duration
    /// How long an endpoint whose connection failed stays out of the local rotation.
    public var ejectionTime: Duration
    /// The longest a SIGTERM waits for in-flight connections and the app before the proxy exits.
    public var drainDeadline: Duration
    /// `round_robin` or `least_request` (least active connections of two random picks).
    public var balancing: BalancingPolicy
    /// At most this many ready connections per `tcp` upstream endpoint and event loop, made ahead
    /// of need (see ``SparePool``); 0 turns them off.
    public var spareConnections: Int
    /// How long an unused ready connection is kept.
    public var spareIdleTimeout: Duration
    /// How long a peer's ready connection may wait here for its activation byte before it is
    /// closed (the peer drops its own unused spares after its `spareIdleTimeout`, 60 s by
    /// default; this leaves a margin, so proxies with the default settings never close a spare
    /// the peer is about to use).
    public var spareActivationTimeout: Duration = .seconds(90)
    /// The public listener's connection cap, handshake deadline and idle timeout (a waiting
    /// spare counts as idle: the far proxy drops its own after `spareIdleTimeout`).
    public var publicLimits: ListenerLimits = .proxyPublic
    /// The upstream listeners' connection cap and idle timeout.
    public var upstreamLimits: ListenerLimits = .proxyUpstream

    public init(
        publicBindHost: String? = "0.0.0.0",
        appHost: String = "127.0.0.1",
        upstreamBindHost: String = "127.0.0.1",
        connectTimeout: Duration = .seconds(5),
        ejectionTime: Duration = .seconds(10),
        drainDeadline: Duration = .seconds(30),
        balancing: BalancingPolicy = .roundRobin,
        spareConnections: Int = 32,
        spareIdleTimeout: Duration = .seconds(60)
    ) {
        self.publicBindHost = publicBindHost
        self.appHost = appHost
        self.upstreamBindHost = upstreamBindHost
        self.connectTimeout = connectTimeout
        self.ejectionTime = ejectionTime
        self.drainDeadline = drainDeadline
        self.balancing = balancing
        self.spareConnections = spareConnections
        self.spareIdleTimeout = spareIdleTimeout
    }
}

/// How an upstream listener spreads new connections over the healthy endpoints.
public enum BalancingPolicy: String, Sendable, CaseIterable {
    case roundRobin = "round_robin"
    case leastRequest = "least_request"
}
