import Foundation
import MeshTesting
import Testing

extension DevTests {
    /// Every service's own metrics reach its `/metrics` in a real process (in the test process
    /// the metrics system is bootstrapped once for all servers, so only separate processes show
    /// a metric made before the bootstrap: the change feed's gauge was lost that way once).
    @Suite("meshctl dev: each service's /metrics")
    struct Metrics {
        static func metrics(of service: String, in dev: RunningDev) async throws -> String {
            let lines = dev.output.split(separator: "\n")
            let line = try #require(lines.first { $0.contains("\(service) ready (http ") })
            let http = try #require(line.split(separator: "(http ").last?.split(separator: ",").first)
            let caLine = try #require(lines.first { $0.contains("dev CA ") })
            let caPath = try #require(caLine.split(separator: "dev CA ").last?.dropLast())
            let output = NSTemporaryDirectory() + "dev-metrics-\(UInt32.random(in: 0...UInt32.max)).txt"
            defer { unlink(output) }
            let curl = try Spawned.launch(
                "/usr/bin/curl",
                ["-sS", "--max-time", "10", "--cacert", String(caPath), "https://\(http)/metrics"],
                outputPath: output
            )
            #expect(try await curl.waitForExit() == 0)
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }

        @Test("catalog-svc reports its change feed and config-distributor its streams")
        func servicesReportTheirOwnMetrics() async throws {
            try await RunningDev.with(token: UUID().uuidString.lowercased()) { dev in
                let catalog = try await Self.metrics(of: "catalog-svc", in: dev)
                #expect(catalog.contains("mesh_change_feed_waiters"), "\(catalog.prefix(2000))")
                let distributor = try await Self.metrics(of: "config-distributor", in: dev)
                #expect(distributor.contains("mesh_distributor_streams"), "\(distributor.prefix(2000))")
            }
        }
    }
}
