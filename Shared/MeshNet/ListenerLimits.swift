/// The limits every listener of ours enforces, so that no peer can hold resources it was not
/// given: how many connections at once, how long a new connection may take to finish its
/// handshake (TLS, or its first bytes in plain text), and how long a connection may stay silent.
public struct ListenerLimits: Sendable, Hashable {
    /// Connections open at once on the listener; past it a new connection is closed at once.
    public var maxConnections: Int
    /// From accept to a finished TLS handshake (or, in plain text, the first bytes read); nil:
    /// none (a plain-text listener whose clients may wait for the server to speak first).
    public var handshakeTimeout: Duration?
    /// A connection with nothing read or written for this long is closed; nil: none (for
    /// protocols with their own idle handling, such as gRPC's `maxIdleTime` and keepalive).
    public var idleTimeout: Duration?

    public init(maxConnections: Int, handshakeTimeout: Duration?, idleTimeout: Duration? = nil) {
        self.maxConnections = maxConnections
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
    }

    /// The control plane's gRPC and REST listeners: 10,000 connections, 10 s to handshake.
    public static let controlPlane = ListenerLimits(maxConnections: 10_000, handshakeTimeout: .seconds(10))

    /// A proxy's public (mTLS) listener: 10,000 connections, 10 s to handshake, closed after an
    /// hour with nothing sent either way (Envoy's TCP proxy idle timeout).
    public static let proxyPublic = ListenerLimits(
        maxConnections: 10_000,
        handshakeTimeout: .seconds(10),
        idleTimeout: .seconds(3600)
    )

    /// A proxy's upstream listeners (the app's side, on loopback): no handshake deadline (the
    /// app may wait for a server that speaks first), closed after an hour of silence.
    public static let proxyUpstream = ListenerLimits(
        maxConnections: 10_000,
        handshakeTimeout: nil,
        idleTimeout: .seconds(3600)
    )
}

/// gRPC connection management for servers and clients (gRFC A8/A9): keepalive pings on every
/// connection, so a peer that went away without a FIN (a NAT or balancer dropping state) is
/// noticed within `keepaliveInterval + keepaliveTimeout` even on a stream that carries nothing.
public struct GRPCConnectionSettings: Sendable, Hashable {
    /// Silence after which a ping is sent.
    public var keepaliveInterval: Duration
    /// How long a ping may go unanswered before the connection is closed.
    public var keepaliveTimeout: Duration
    /// A server closes (gracefully) a connection with no open call for this long.
    public var maxIdleTime: Duration
    /// Calls open at once on one connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`).
    public var maxConcurrentStreams: Int
    /// A server closes a connection this long after it began closing it gracefully (GOAWAY at
    /// shutdown, idle or keepalive), whether or not the peer answered: a half-open connection
    /// cannot hold a stopping server.
    public var maxGraceTime: Duration

    public init(
        keepaliveInterval: Duration = .seconds(15),
        keepaliveTimeout: Duration = .seconds(10),
        maxIdleTime: Duration = .seconds(300),
        maxConcurrentStreams: Int = 4096,
        maxGraceTime: Duration = .seconds(10)
    ) {
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.maxIdleTime = maxIdleTime
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxGraceTime = maxGraceTime
    }

    /// Dead peers noticed within 25 s; 4,096 calls per connection (the config-distributor's
    /// watches of a large mesh share one connection to catalog-svc).
    public static let `default` = GRPCConnectionSettings()
}

/// A control-plane server's limits, for its gRPC and REST listeners alike.
public struct ServerLimits: Sendable, Hashable {
    /// Connections, handshake deadline (both listeners).
    public var listener: ListenerLimits
    /// gRPC keepalive, idle connections, calls per connection.
    public var grpc: GRPCConnectionSettings
    /// A REST connection with no request in progress is closed after this long (also one that
    /// never sends anything, TLS handshake included).
    public var httpIdleTimeout: Duration

    public init(
        listener: ListenerLimits = .controlPlane,
        grpc: GRPCConnectionSettings = .default,
        httpIdleTimeout: Duration = .seconds(60)
    ) {
        self.listener = listener
        self.grpc = grpc
        self.httpIdleTimeout = httpIdleTimeout
    }

    /// 10,000 connections per listener, 10 s to handshake, keepalive every 15 s (10 s to answer),
    /// idle gRPC connections closed after 5 min and REST ones after 60 s.
    public static let `default` = ServerLimits()
}
