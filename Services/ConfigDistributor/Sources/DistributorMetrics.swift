import Metrics

/// config-distributor's Prometheus series (swift-metrics, served at `/metrics`).
struct DistributorMetrics: Sendable {
    let streams = Gauge(label: "mesh_distributor_streams")
    let pushes = Counter(label: "mesh_distributor_pushes_total")
    let acks = Counter(label: "mesh_distributor_acks_total")
    let nacks = Counter(label: "mesh_distributor_nacks_total")
    /// Streams refused at once: a caller that may write no service.
    let refusedStreams = Counter(label: "mesh_distributor_refused_streams_total")
    let leafRelays = Counter(label: "mesh_distributor_leaf_relays_total")
    let buildTime = Timer(label: "mesh_distributor_snapshot_build_seconds")
}
