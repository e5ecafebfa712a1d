public import GRPCNIOTransportHTTP2Posix
public import MeshNet

extension HTTP2ClientTransport.Posix {
    /// A workload's (proxy's or agent's) transport to config-distributor, at one address or at
    /// each of its replicas': TLS checking the distributor's certificate against `caPEM` and its
    /// name; without a CA, loopback only, since the workload's token travels on every call.
    ///
    /// Throws ``PlaintextDialRefused`` when no CA is given and a replica is not on loopback.
    public static func distributor(
        at replicas: [(host: String, port: Int)],
        caPEM: String?,
        settings: GRPCConnectionSettings = .default,
        backoff: HTTP2ClientTransport.Config.Backoff? = nil
    ) throws -> HTTP2ClientTransport.Posix {
        try PlaintextDialRefused.check(.distributor, replicas: replicas, hasTLS: caPEM != nil)
        return try .dialing(
            .distributor,
            at: replicas,
            tls: caPEM.map { .server(caPEM: $0) },
            settings: settings,
            backoff: backoff
        )
    }
}
