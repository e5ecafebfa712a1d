import Foundation
import Hummingbird
import MeshRPC
import MeshTesting
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for the ECS task metadata endpoint v4: `GET /task` answers the documented JSON
/// shape for a task whose containers the test changes.
final class TaskMetadataServer: Sendable {
    struct State: Sendable {
        var desired = "RUNNING"
        var app = (known: "RUNNING", health: "HEALTHY")
        var proxy = "RUNNING"
    }

    static let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/mesh"
    static let taskARN = "arn:aws:ecs:us-east-1:123456789012:task/mesh/5f1e0c9a2b3d4e5f"
    let state = Mutex(State())

    func change(_ body: @Sendable (inout State) -> Void) { self.state.withLock { body(&$0) } }

    var json: Data {
        let state = self.state.withLock { $0 }
        let network: [[String: Any]] = [["NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.5"]]]
        let containers: [[String: Any]] = [
            [
                "Name": "app", "DockerId": "a1", "Image": "http-server", "KnownStatus": state.app.known,
                "DesiredStatus": state.desired,
                "Health": ["status": state.app.health, "statusSince": "2026-11-26T00:00:00Z"],
                "Networks": network,
            ],
            [
                "Name": "mesh-proxy", "DockerId": "p1", "Image": "mesh-proxy", "KnownStatus": state.proxy,
                "DesiredStatus": state.desired, "Health": ["status": "HEALTHY"], "Networks": network,
            ],
            [
                "Name": "mesh-agent", "DockerId": "g1", "Image": "mesh-agent", "KnownStatus": "RUNNING",
                "DesiredStatus": state.desired, "Networks": network,
            ],
        ]
        let task: [String: Any] = [
            "Cluster": Self.cluster, "TaskARN": Self.taskARN, "Family": "web", "Revision": "1",
            "DesiredStatus": state.desired, "KnownStatus": "RUNNING", "Containers": containers,
            "LaunchType": "FARGATE", "AvailabilityZone": "us-east-1a",
        ]
        return (try? JSONSerialization.data(withJSONObject: task)) ?? Data()
    }

    /// Serves until `body` returns; `body` gets the endpoint's base URL.
    func serve<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("task") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(self.json))))
        }
        let port = try FreePort.pick()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService()
                return nil
            }
            try await eventually("the task metadata server listens") {
                (try? await TestAPI(HostPort(host: "127.0.0.1", port: port)).get("/task").status) == 200
            }
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        }
    }
}

extension DevTests {
    @Suite("meshctl dev: ECS health sync and shutdown order")
    struct HealthSync {
        @Test(
            "container health reaches the check; at SIGTERM: critical first, deregistered only after the app and proxy exit"
        )
        func healthSync() async throws {
            let token = UUID().uuidString.lowercased()
            let metadata = TaskMetadataServer()
            try await RunningDev.with(token: token) { dev in
                let admin = dev.api.with(token: token)
                // The cluster's node, as the controller (or an operator) registers it once per cluster.
                let node: [String: Any] = ["Node": TaskMetadataServer.cluster, "Address": "127.0.0.1"]
                #expect(try await admin.put("/v1/catalog/register", json: node).status == 200)
                let created = try await admin.put(
                    "/v1/acl/token",
                    json: ["ServiceIdentities": [["ServiceName": "web"]]]
                )
                let secret = try #require(created.object["SecretID"] as? String)
                let tokenFile = NSTemporaryDirectory() + "health-sync-token-\(UUID().uuidString)"
                defer { unlink(tokenFile) }
                try await metadata.serve { endpoint in
                    let environment: [String: String?] = [
                        "ECS_CONTAINER_METADATA_URI_V4": endpoint, "CONSUL_HTTP_TOKEN": nil,
                    ]
                    let instance = [
                        "--http-addr", dev.address, "--service", "web", "--port", "8080", "--token-file", tokenFile,
                    ]
                    let initialized = try await RunningDev.run(
                        "mesh-agent",
                        ["init", "--token", secret] + instance,
                        environment: environment
                    )
                    #expect(initialized.status == 0, "\(initialized.output)")
                    let registered = try await admin.get("/v1/catalog/service/web").array
                    #expect(registered.first?["ServiceID"] as? String == TaskMetadataServer.taskARN)
                    #expect(registered.first?["Node"] as? String == TaskMetadataServer.cluster)
                    #expect(registered.first?["ServiceAddress"] as? String == "10.0.1.5")
                    // …and its sidecar proxy, at the public listener, pointing at it.
                    let sidecar = try await admin.get("/v1/catalog/service/web-sidecar-proxy").array.first
                    #expect(sidecar?["ServiceKind"] as? String == "connect-proxy")
                    #expect(sidecar?["ServicePort"] as? Int == 21000)
                    #expect(sidecar?["ServiceID"] as? String == TaskMetadataServer.taskARN + "-sidecar-proxy")
                    let proxyConfig = sidecar?["ServiceProxy"] as? [String: Any]
                    #expect(proxyConfig?["DestinationServiceName"] as? String == "web")
                    #expect(proxyConfig?["LocalServicePort"] as? Int == 8080)

                    var runEnvironment = ProcessInfo.processInfo.environment
                    runEnvironment["ECS_CONTAINER_METADATA_URI_V4"] = endpoint
                    runEnvironment["MESH_LOG_LEVEL"] = "info"
                    let log = NSTemporaryDirectory() + "health-sync-\(UUID().uuidString).log"
                    defer { unlink(log) }
                    let agent = try Spawned.launch(
                        builtExecutable("mesh-agent"),
                        ["run", "--health-sync-containers", "app", "--sync-interval", "100ms", "--no-logout"]
                            + instance,
                        environment: runEnvironment,
                        outputPath: log
                    )
                    defer { agent.stop() }
                    @Sendable func check() async throws -> (status: String, output: String)? {
                        let checks = try await admin.get("/v1/health/checks/web").array
                        guard
                            let check = checks.first(where: {
                                ($0["CheckID"] as? String)?.hasSuffix(":ecs-health") == true
                            })
                        else {
                            return nil
                        }
                        return (check["Status"] as? String ?? "", check["Output"] as? String ?? "")
                    }
                    try await eventually("the check is passing") { try await check()?.status == "passing" }
                    metadata.change { $0.app.health = "UNHEALTHY" }
                    try await eventually("the check turns critical") { try await check()?.status == "critical" }
                    // Peers see the sidecar go too: its check follows the application's.
                    // (By its ID: the sidecar also has the agent's liveness check, which stays passing.)
                    try await eventually("the sidecar's check turns critical") {
                        let checks = try await admin.get("/v1/health/checks/web-sidecar-proxy").array
                        let synced = checks.first {
                            ($0["CheckID"] as? String)?.hasSuffix("-sidecar-proxy:ecs-health") == true
                        }
                        return synced?["Status"] as? String == "critical"
                    }
                    #expect(try await check()?.output.contains("app is UNHEALTHY") == true)
                    metadata.change { $0.app.health = "HEALTHY" }
                    try await eventually("the check is passing again") { try await check()?.status == "passing" }

                    // SIGTERM reaches every container at once; ECS then stops them over time.
                    metadata.change { $0.desired = "STOPPED" }
                    kill(agent.pid, SIGTERM)
                    try await eventually("marked critical at once") {
                        try await check()?.output == "the task is stopping"
                    }
                    // The app and proxy still run: the instance stays registered, the agent stays up.
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(try await admin.get("/v1/catalog/service/web").array.count == 1)
                    #expect(agent.isRunning)
                    metadata.change { $0.app.known = "STOPPED" }
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(
                        try await admin.get("/v1/catalog/service/web").array.count == 1,
                        "the proxy outlives the app"
                    )
                    metadata.change { $0.proxy = "STOPPED" }
                    #expect(try await agent.waitForExit() == 0)
                    #expect(try await admin.get("/v1/catalog/service/web").array.isEmpty)
                    #expect(try await admin.get("/v1/catalog/service/web-sidecar-proxy").array.isEmpty)
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    let critical = try #require(text.range(of: "marked critical"))
                    let deregistered = try #require(text.range(of: "deregistered"))
                    #expect(critical.lowerBound < deregistered.lowerBound)
                }
            }
        }
    }
}
