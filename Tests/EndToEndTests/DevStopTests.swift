import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DevTests {
    @Suite("meshctl dev: stopping")
    struct Stopping {
        /// Before the fix, SIGTERM before the services were up killed `meshctl dev` outright
        /// (its signal handler was installed only once everything had started), leaving its
        /// services to whatever noticed first.
        /// With `--demo` as well: before its fix, a stop that came before the REST address was
        /// up left the demo waiting for it forever, and `meshctl dev` never exited.
        @Test(
            "SIGTERM while the services start: they come up, then all stop in order, exit status 0",
            arguments: [[], ["--demo"]]
        )
        func sigtermDuringStart(extra: [String]) async throws {
            let port = try FreePort.pick()
            let log = NSTemporaryDirectory() + "meshctl-dev-stop-\(port).log"
            defer { unlink(log) }
            let dev = try Spawned.launch(
                builtExecutable("meshctl"),
                ["dev", "--http-addr", "127.0.0.1:\(port)", "--initial-management-token", UUID().uuidString] + extra,
                outputPath: log
            )
            defer { dev.stop() }
            let output = { @Sendable in (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            try await eventually(within: .seconds(60), "meshctl dev has started PostgreSQL") {
                output().contains("PostgreSQL on")
            }
            #expect(!output().contains("ready: Consul-compatible API"))
            kill(dev.pid, SIGTERM)
            try await eventually(within: .seconds(120), "meshctl dev has exited") { !dev.isRunning }
            #expect(try await dev.waitForExit() == 0, "\(output())")
            #expect(output().contains("meshctl dev: stopping"), "\(output())")
            let postgres = try Supervision.pid(of: "PostgreSQL on", in: output())
            #expect(!Spawned.isAlive(postgres), "PostgreSQL (pid \(postgres)) still runs")
        }

        /// Before the fix, Ctrl-C once everything ran logged `Server shutdown error: Already
        /// closed` and `Waiting on child channel: CancellationError()` (the REST address and the
        /// dev agent API were cancelled instead of shut down), and each service waited 5 s for
        /// the dev gateway's idle keep-alive connections to answer TLS close_notify.
        ///
        /// With a blocking query in flight through the REST address: before its fix, the gateway's
        /// graceful shutdown waited for it (up to its `wait`, 5 minutes here), since the service
        /// answering it only stops after the gateway.
        @Test("Ctrl-C once ready: exit status 0, nothing logged at error level", arguments: [[], ["--demo"]])
        func sigintWhenReady(extra: [String]) async throws {
            let token = UUID().uuidString.lowercased()
            try await RunningDev.with(token: token, arguments: extra) { dev in
                let api = {
                    var api = dev.api; api.token = token; return api
                }()
                // In flight once catalog-svc holds one more waiter (its change feed's gauge, on
                // /metrics, which the REST address sends to catalog-svc).
                let waiters = { @Sendable () async -> Double in
                    let metrics = (try? await api.get("/metrics").text) ?? ""
                    let line = metrics.split(separator: "\n").first {
                        $0.hasPrefix("mesh_change_feed_waiters{schema=\"catalog\"}")
                    }
                    return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
                }
                let before = await waiters()
                let index = try #require(await api.get("/v1/catalog/nodes").index)
                let blocked = Task { try? await api.get("/v1/catalog/nodes?index=\(index)&wait=5m") }
                defer { blocked.cancel() }
                try await eventually(within: .seconds(30), "the blocking query to wait in catalog-svc") {
                    await waiters() > before
                }
                kill(dev.process.pid, SIGINT)
                try await eventually(within: .seconds(60), "meshctl dev has exited") { !dev.process.isRunning }
                #expect(try await dev.process.waitForExit() == 0, "\(dev.currentOutput)")
                let afterReady = dev.currentOutput.components(separatedBy: "ready: Consul-compatible API").last ?? ""
                let errors = afterReady.split(separator: "\n").filter {
                    $0.contains(" error ") || $0.contains(" critical ")
                }
                #expect(errors.isEmpty, "\(errors.joined(separator: "\n"))")
            }
        }
    }
}
