public import Hummingbird
import Metrics
public import Prometheus
import Synchronization

/// The process's Prometheus registry, bootstrapped into swift-metrics once.
public enum MeshMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Returns the registry, bootstrapping swift-metrics with it on first call.
    public static func registry() -> PrometheusCollectorRegistry {
        self.bootstrapped.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }
}

extension Router {
    /// Adds `GET /metrics` (Prometheus text) and the readiness endpoints.
    ///
    /// `/ready` answers 200 once `isReady` says so (migrations done, change feed listening),
    /// 503 before; `/healthz` answers 200 while the process runs.
    public func addOperationalRoutes(registry: PrometheusCollectorRegistry, isReady: @escaping @Sendable () -> Bool) {
        self.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: .init(bytes: buffer)))
        }
        self.get("/ready") { _, _ -> Response in
            isReady() ? Response(status: .ok) : Response(status: .serviceUnavailable)
        }
        self.get("/healthz") { _, _ -> Response in Response(status: .ok) }
    }
}
