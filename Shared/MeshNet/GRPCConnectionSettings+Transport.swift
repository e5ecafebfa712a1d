public import GRPCNIOTransportHTTP2Posix
import NIOCore

extension HTTP2ServerTransport.Posix.Config {
    /// A server's transport settings: keepalive pings (and clients' pings allowed, also without
    /// calls), idle connections closed, a cap on calls per connection, and every accepted
    /// connection guarded by `limits` (cap on connections, handshake deadline). With
    /// `acceptedPeers` (mutual TLS), a client whose certificate names none of them is closed.
    public static func mesh(
        _ settings: GRPCConnectionSettings,
        limits: ListenerLimits,
        counter: ConnectionCounter,
        acceptedPeers: Set<String>? = nil
    ) -> Self {
        .defaults { config in
            config.connection.keepalive.time = settings.keepaliveInterval
            config.connection.keepalive.timeout = settings.keepaliveTimeout
            config.connection.keepalive.clientBehavior.allowWithoutCalls = true
            config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls =
                min(settings.keepaliveInterval, .seconds(5))
            config.connection.maxIdleTime = settings.maxIdleTime
            config.connection.maxGraceTime = settings.maxGraceTime
            config.http2.maxConcurrentStreams = settings.maxConcurrentStreams
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addConnectionGuard(
                        counter: counter,
                        limits: limits,
                        acceptedPeers: acceptedPeers
                    )
                }
            }
        }
    }
}

extension HTTP2ClientTransport.Posix.Config {
    /// A client's transport settings: keepalive pings, with or without calls open, so that a
    /// connection that silently died (a NAT or balancer dropped its state) is closed within
    /// `keepaliveInterval + keepaliveTimeout` and the next call opens a new one instead of
    /// waiting on the dead one until its deadline. (Pings without calls were off while a
    /// shutdown crash seen with them was suspected; it came from a stale incremental build and
    /// did not recur from a clean one.)
    public static func mesh(
        _ settings: GRPCConnectionSettings = .default,
        backoff: HTTP2ClientTransport.Config.Backoff? = nil
    ) -> Self {
        .defaults { config in
            config.connection.keepalive = .init(
                time: settings.keepaliveInterval,
                timeout: settings.keepaliveTimeout,
                allowWithoutCalls: true
            )
            if let backoff { config.backoff = backoff }
        }
    }
}
