import ArgumentParser
import Logging
import MeshCore
import MeshProcess

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Flags every mode shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Admin listener (/ready, /metrics, /config) (env MESH_ADMIN_ADDR, default 127.0.0.1:19000).")
    var adminAddr: String?

    @Option(help: "Event-loop threads (env MESH_PROXY_THREADS, default: one per core).")
    var threads: Int?

    @Option(help: "Connect and TLS handshake timeout for outgoing connections (default 5s).")
    var connectTimeout: String?

    @Option(help: "Drain deadline at SIGTERM (default 30s).")
    var drainDeadline: String?

    @Option(help: "Load balancing: round_robin or least_request (default round_robin).")
    var balancing: String?

    @Option(
        help:
            "Ready mTLS connections kept per tcp upstream endpoint and event loop, up to the number in use (default 32; 0: off)."
    )
    var spareConnections: Int?

    func process(publicBindHost: String?) throws -> ProxyProcess {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let settings = SettingResolver(environment: environment)
        let admin = try settings.address(
            flag: self.adminAddr,
            flagName: "--admin-addr",
            variable: "MESH_ADMIN_ADDR",
            default: "127.0.0.1:19000"
        )
        var options = ProxyOptions(publicBindHost: publicBindHost)
        options.connectTimeout = try settings.duration(
            flag: self.connectTimeout,
            flagName: "--connect-timeout",
            variable: "MESH_PROXY_CONNECT_TIMEOUT",
            default: options.connectTimeout
        )
        options.drainDeadline = try settings.duration(
            flag: self.drainDeadline,
            flagName: "--drain-deadline",
            variable: "MESH_PROXY_DRAIN_DEADLINE",
            default: options.drainDeadline
        )
        if let text = settings.string(flag: self.balancing, variable: "MESH_PROXY_BALANCING") {
            guard let policy = BalancingPolicy(rawValue: text) else {
                throw ValidationError("--balancing: expected round_robin or least_request, got \"\(text)\"")
            }
            options.balancing = policy
        }
        if let text = settings.string(
            flag: self.spareConnections.map(String.init),
            variable: "MESH_PROXY_SPARE_CONNECTIONS"
        ) {
            guard let count = Int(text), count >= 0 else {
                throw ValidationError("--spare-connections: expected a count of 0 or more, got \"\(text)\"")
            }
            options.spareConnections = count
        }
        let threads =
            self.threads ?? environment["MESH_PROXY_THREADS"].flatMap(Int.init)
            ?? ProcessInfo.processInfo.activeProcessorCount
        return ProxyProcess(options: options, adminHost: admin.host, adminPort: admin.port, threads: threads)
    }
}
