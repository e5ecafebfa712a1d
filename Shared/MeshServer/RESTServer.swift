public import Hummingbird
public import HummingbirdCore
import HummingbirdTLS
public import Logging
public import MeshNet
import NIOCore

extension TLSFiles? {
    /// The REST listener of a control-plane service: HTTP/1.1 (over TLS when configured), closing
    /// a connection with no request in progress after `limits.httpIdleTimeout` (which also bounds
    /// one that never sends anything, TLS handshake included).
    public func restServer(limits: ServerLimits) throws -> HTTPServerBuilder {
        let http = HTTPServerBuilder.http1(configuration: .init(idleTimeout: TimeAmount(limits.httpIdleTimeout)))
        guard let tls = self else { return http }
        return try .tls(http, tlsConfiguration: tls.httpsConfiguration())
    }
}

extension ApplicationConfiguration {
    /// Where a control-plane REST listener binds, and its connection cap: past
    /// `limits.listener.maxConnections` open connections, new ones wait in the accept queue.
    public static func mesh(
        host: String,
        port: Int,
        serverName: String,
        limits: ServerLimits,
        logger: Logger
    ) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: .hostname(host, port: port),
            serverName: serverName,
            availableConnectionsDelegate: .maximum(limits.listener.maxConnections, logger: logger)
        )
    }
}
