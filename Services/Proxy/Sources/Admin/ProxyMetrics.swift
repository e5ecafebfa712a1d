public import Prometheus
import Synchronization

/// The proxy's Prometheus series (served at the admin `/metrics`).
///
/// Counters are atomic, so the data path increments them from any event loop without a lock.
public final class ProxyMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let inboundConnections: Counter
    let outboundConnections: Counter
    let inboundActive: Gauge
    let outboundActive: Gauge
    /// Bytes read from the peer proxy and sent to the app (`rx`), and back (`tx`), on the public listener.
    let inboundBytesRx: Counter
    let inboundBytesTx: Counter
    /// Bytes from the app to the upstream (`tx`) and back (`rx`), on upstream listeners.
    let outboundBytesTx: Counter
    let outboundBytesRx: Counter
    let serverHandshakes: Counter
    let serverHandshakeFailures: Counter
    let clientHandshakes: Counter
    let clientHandshakeFailures: Counter
    let intentionDenials: Counter
    /// Requests refused before the intentions: a path or header the mesh's request normalization refuses.
    let badRequests: Counter
    let identityMismatches: Counter
    let connectFailures: Counter
    let noHealthyEndpoint: Counter
    /// App connections to `tcp` upstreams served by a connection made ahead of need.
    let sparesUsed: Counter
    let sparesExpired: Counter
    let appConnectFailures: Counter
    /// `tcp` connections whose peer said its app was unavailable (sent elsewhere when possible).
    let peerAppUnavailable: Counter
    let configUpdates: Counter
    let httpRequests: Counter
    private let configInfo = Mutex<Gauge?>(nil)

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func connections(_ direction: String) -> Counter {
            registry.makeCounter(
                descriptor: Self.descriptor(
                    "mesh_proxy_connections_total",
                    "Connections accepted (inbound: public listener; outbound: upstream listeners)"
                ),
                labels: [("direction", direction)]
            )
        }
        func active(_ direction: String) -> Gauge {
            registry.makeGauge(
                descriptor: Self.descriptor("mesh_proxy_active_connections", "Connections open now"),
                labels: [("direction", direction)]
            )
        }
        func bytes(_ direction: String, _ flow: String) -> Counter {
            registry.makeCounter(
                descriptor: Self.descriptor(
                    "mesh_proxy_bytes_total",
                    "Bytes proxied (rx: from the remote proxy, tx: towards it)"
                ),
                labels: [("direction", direction), ("flow", flow)]
            )
        }
        func handshakes(_ side: String, _ result: String) -> Counter {
            registry.makeCounter(
                descriptor: Self.descriptor(
                    "mesh_proxy_tls_handshakes_total",
                    "mTLS handshakes (server: public listener; client: to upstream proxies)"
                ),
                labels: [("side", side), ("result", result)]
            )
        }
        self.inboundConnections = connections("inbound")
        self.outboundConnections = connections("outbound")
        self.inboundActive = active("inbound")
        self.outboundActive = active("outbound")
        self.inboundBytesRx = bytes("inbound", "rx")
        self.inboundBytesTx = bytes("inbound", "tx")
        self.outboundBytesTx = bytes("outbound", "tx")
        self.outboundBytesRx = bytes("outbound", "rx")
        self.serverHandshakes = handshakes("server", "ok")
        self.serverHandshakeFailures = handshakes("server", "failed")
        self.clientHandshakes = handshakes("client", "ok")
        self.clientHandshakeFailures = handshakes("client", "failed")
        self.intentionDenials = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_intention_denials_total",
                "Inbound connections closed because the intentions deny their source"
            )
        )
        self.badRequests = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_bad_requests_total",
                "Inbound requests answered 400 by the request normalization (escaped slashes, bad escapes, underscores)"
            )
        )
        self.identityMismatches = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_identity_mismatches_total",
                "Connections refused because the peer's SPIFFE ID was not the expected one"
            )
        )
        self.connectFailures = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_upstream_connect_failures_total",
                "Connections to upstream endpoints that failed before carrying a byte"
            )
        )
        self.noHealthyEndpoint = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_upstream_no_endpoint_total",
                "Upstream connections refused because the upstream had no endpoint"
            )
        )
        self.sparesUsed = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_upstream_spares_used_total",
                "Upstream connections served by a ready connection made ahead of need (no handshake waited for)"
            )
        )
        self.sparesExpired = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_spares_expired_total",
                "Peers' ready connections closed here because no activation byte came in time"
            )
        )
        self.appConnectFailures = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_app_connect_failures_total",
                "Inbound connections closed because the local app refused them"
            )
        )
        self.peerAppUnavailable = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_upstream_app_unavailable_total",
                "Upstream connections whose peer proxy said its app was unavailable (retried elsewhere when possible)"
            )
        )
        self.httpRequests = registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_http_requests_total",
                "HTTP requests received on the public listener (http services)"
            )
        )
        self.configUpdates = registry.makeCounter(
            descriptor: Self.descriptor("mesh_proxy_config_updates_total", "Config versions applied")
        )
    }

    /// A metric's full name and help text (the registry's non-deprecated way to name one).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Counts one HTTP/2 or gRPC request by its outcome: the response's HTTP status ("reset" when
    /// the stream ended without one) and, for gRPC, the `grpc-status` of its trailers.
    func request(direction: String, service: String, status: String, grpcStatus: String) {
        self.registry.makeCounter(
            descriptor: Self.descriptor(
                "mesh_proxy_requests_total",
                "HTTP/2 and gRPC requests by outcome (inbound: public listener; outbound: per upstream)"
            ),
            labels: [
                ("direction", direction), ("upstream", service), ("status", status), ("grpc_status", grpcStatus),
            ]
        ).increment()
    }

    /// Marks `version` as the one in force (`mesh_proxy_config_info{version=...} 1`).
    func configApplied(version: String) {
        self.configUpdates.increment()
        self.configInfo.withLock { current in
            if let current { self.registry.unregisterGauge(current) }
            let gauge = self.registry.makeGauge(
                descriptor: Self.descriptor("mesh_proxy_config_info", "The config version in force"),
                labels: [("version", version)]
            )
            gauge.set(to: 1)
            current = gauge
        }
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        self.registry.emit(into: &buffer)
        return buffer
    }
}
