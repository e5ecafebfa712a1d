import Catalog
import Foundation
import GRPCCore
import MeshProto
import MeshTesting
import NIOHTTP1
import SwiftProtobuf
import Testing

@Suite("Blocking queries and health")
struct CatalogBlockingTests {
    @Test("a blocking query returns on a change of its service, with a higher index")
    func wakesOnChange() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(instance(node: "n1", service: "web", id: "w1"))
            let index = try await api.get("/v1/health/service/web").index!
            try await withThrowingTaskGroup(of: API.Answer.self) { group in
                group.addTask { try await api.get("/v1/health/service/web?index=\(index)&wait=30s") }
                // The watcher is parked once the feed has a waiter; then write.
                try await waitForWaiters(replica, atLeast: 1)
                try await api.register(instance(node: "n2", service: "web", id: "w2"))
                let answer = try await group.next()!
                #expect(answer.index! > index)
                #expect(answer.array.count == 2)
            }
        }
    }

    @Test("a write to another service does not wake the query; it returns at the wait with the same index")
    func isolatedPerService() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(instance(node: "n1", service: "web", id: "w1"))
            let index = try await api.get("/v1/health/service/web").index!
            try await withThrowingTaskGroup(of: (API.Answer, Duration).self) { group in
                group.addTask {
                    let start = ContinuousClock.now
                    // A long wait, so that a busy machine cannot let it lapse before the test sees it parked.
                    let answer = try await api.get("/v1/health/service/web?index=\(index)&wait=5s")
                    return (answer, ContinuousClock.now - start)
                }
                try await waitForWaiters(replica, atLeast: 1)
                try await api.register(instance(node: "n1", service: "api", id: "a1"))
                let (answer, elapsed) = try await group.next()!
                #expect(answer.index == index)
                #expect(elapsed >= .milliseconds(4900))
            }
        }
    }

    @Test("a TTL check turns critical when no update arrives, and passing again on update")
    func ttlExpiry() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(
                instance(
                    node: "n1",
                    service: "web",
                    id: "w1",
                    checks: [ttlCheck("ttl-1", serviceID: "w1", ttl: "3s")]
                )
            )
            var answer = try await api.get("/v1/health/checks/web")
            #expect(answer.array.first?["Status"] as? String == "passing")
            // Block until the leader has reaped it.
            answer = try await api.get("/v1/health/checks/web?index=\(answer.index!)&wait=20s")
            #expect(answer.array.first?["Status"] as? String == "critical")
            #expect(answer.array.first?["Output"] as? String == "TTL expired")
            // The TTL restarts on update: the read below must come within its 3 s, even on a busy machine.
            let pass = try await api.call(.PUT, "/v1/agent/check/pass/ttl-1?note=ok")
            #expect(pass.status == 200)
            answer = try await api.get("/v1/health/checks/web")
            #expect(answer.array.first?["Status"] as? String == "passing")
            #expect(answer.array.first?["Output"] as? String == "ok")
            #expect(try await api.call(.PUT, "/v1/agent/check/pass/nope").status == 404)
        }
    }

    @Test("an instance critical past DeregisterCriticalServiceAfter is removed by the leader")
    func deregisterCriticalAfter() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(
                instance(
                    node: "n1",
                    service: "web",
                    id: "w1",
                    checks: [
                        [
                            "CheckID": "c", "Name": "c", "ServiceID": "w1", "Status": "critical",
                            "Definition": ["DeregisterCriticalServiceAfter": "3s"],
                        ]
                    ]
                )
            )
            // 3 s: the read below must come before the reaper, even on a busy machine (300 ms did not, once).
            var answer = try await api.get("/v1/health/service/web")
            #expect(answer.array.count == 1)
            while !answer.array.isEmpty {
                answer = try await api.get("/v1/health/service/web?index=\(answer.index!)&wait=20s")
            }
            #expect(answer.array.isEmpty)
        }
    }
}

/// Waits until `replica` has at least `count` parked watchers (the event a test waits for
/// before writing, so that the write cannot land before the query blocks).
func waitForWaiters(_ replica: Replica, atLeast count: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while replica.server.waiterCount < count {
        guard ContinuousClock.now < deadline else { throw TestFailure("no watcher parked") }
        await Task.yield()
        try await Task.sleep(for: .milliseconds(5))
    }
}

@Suite("Catalog gRPC API")
struct CatalogRPCTests {
    @Test("a proxy's Proxy block crosses REST and gRPC typed: written over one, read over the other")
    func proxyBlockAcrossAPIs() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await withCatalogClient(replica.grpc) { catalog in
                // Registered over gRPC with the typed block; REST shows it in Consul's JSON.
                _ = try await catalog.register(
                    .with {
                        $0.node = .with {
                            $0.name = "n1"
                            $0.address = "10.0.0.1"
                        }
                        $0.service = .with {
                            $0.name = "web-sidecar-proxy"
                            $0.id = "web-1-sidecar-proxy"
                            $0.kind = "connect-proxy"
                            $0.port = 21000
                            $0.proxy = .with {
                                $0.destinationServiceName = "web"
                                $0.localServicePort = 8080
                                $0.upstreams = [
                                    .with {
                                        $0.destinationName = "db"
                                        $0.localBindPort = 5432
                                    }
                                ]
                                $0.config = Google_Protobuf_Struct(fields: ["protocol": .init(stringValue: "http")])
                            }
                            $0.connect = .with { $0.native = false }
                        }
                    }
                )
                let entry = try #require(try await api.get("/v1/catalog/service/web-sidecar-proxy").array.first)
                let proxy = try #require(entry["ServiceProxy"] as? [String: Any])
                #expect(proxy["DestinationServiceName"] as? String == "web")
                #expect(proxy["LocalServicePort"] as? Int == 8080)
                let upstream = try #require((proxy["Upstreams"] as? [[String: Any]])?.first)
                #expect(upstream["DestinationName"] as? String == "db")
                #expect(upstream["LocalBindPort"] as? Int == 5432)
                #expect(upstream["DestinationType"] as? String == "service")
                #expect((proxy["Config"] as? [String: Any])?["protocol"] as? String == "http")

                // Registered over REST in Consul's JSON (any key casing); gRPC reads it typed.
                try await api.register([
                    "Node": "n2", "Address": "10.0.0.2",
                    "Service": [
                        "Service": "api-sidecar-proxy", "ID": "api-1-sidecar-proxy", "Kind": "connect-proxy",
                        "Port": 21001,
                        "Proxy": [
                            "destinationServiceName": "api", "LocalServicePort": 9090,
                            "Upstreams": [["DestinationName": "web", "LocalBindPort": 8081, "Datacenter": "dc2"]],
                            "MeshGateway": ["Mode": "local"],
                        ],
                    ],
                ])
                let read = try await catalog.serviceInstances(.with { $0.service = "api-sidecar-proxy" })
                let typed = try #require(read.instances.first?.service.proxy)
                #expect(typed.localServicePort == 9090)
                #expect(typed.meshGateway.mode == "local")
                #expect(typed.upstreams.map(\.destinationName) == ["web"])
                #expect(typed.upstreams.first?.localBindPort == 8081)
                #expect(typed.upstreams.first?.datacenter == "dc2")
            }
        }
    }

    @Test("register, read, and watch over gRPC; a watch resumes from its index")
    func registerReadWatch() async throws {
        try await withCatalogServer { replica in
            try await withCatalogClient(replica.grpc) { catalog in
                let registered = try await catalog.register(
                    .with {
                        $0.node = .with {
                            $0.name = "n1"
                            $0.address = "10.0.0.1"
                        }
                        $0.service = .with {
                            $0.name = "web"
                            $0.id = "w1"
                            $0.port = 80
                        }
                    }
                )
                #expect(registered.index > 1)
                let instances = try await catalog.serviceInstances(.with { $0.service = "web" })
                #expect(instances.instances.map(\.service.id) == ["w1"])
                #expect(instances.index >= registered.index)
                let services = try await catalog.listServices(.init())
                #expect(services.services.keys.sorted() == ["web"])

                await #expect(throws: RPCError.self) {
                    _ = try await catalog.updateTTL(
                        .with {
                            $0.checkID = "nope"
                            $0.status = "passing"
                        }
                    )
                }
                await #expect(throws: RPCError.self) {
                    _ = try await catalog.register(.with { $0.node = .with { $0.name = "" } })
                }

                // Watch: the first event is the current state; the next follows a change.
                let events = try await catalog.watch(.with { $0.service = "web" }) { response in
                    var seen: [Mesh_V1_WatchEvent] = []
                    for try await event in response.messages {
                        seen.append(event)
                        if seen.count == 1 {
                            _ = try await catalog.register(
                                .with {
                                    $0.node = .with {
                                        $0.name = "n2"
                                        $0.address = "10.0.0.2"
                                    }
                                    $0.service = .with {
                                        $0.name = "web"
                                        $0.id = "w2"
                                    }
                                }
                            )
                        }
                        if seen.count == 2 { break }
                    }
                    return seen
                }
                #expect(events.count == 2)
                #expect(events[0].instances.count == 1)
                #expect(events[1].instances.count == 2)
                // An event whose value changed is sent at once even when the stable index still
                // lags the write it shows (a write committing between the index read and the
                // snapshot): indexes never go back, but may repeat.
                #expect(events[1].index >= events[0].index)

                // Resuming from the last index: at most the same state again (when its index
                // lagged), then the next change.
                let resumed = try await catalog.watch(
                    .with {
                        $0.service = "web"
                        $0.minIndex = events[1].index
                    }
                ) { response -> Mesh_V1_WatchEvent? in
                    _ = try await catalog.deregister(
                        .with {
                            $0.node = "n2"
                            $0.serviceID = "w2"
                        }
                    )
                    for try await event in response.messages where event.instances.count == 1 {
                        return event
                    }
                    return nil
                }
                #expect(resumed?.instances.map(\.service.id) == ["w1"])
                #expect((resumed?.index ?? 0) > events[0].index)
            }
        }
    }

    @Test("a watch whose client went away is released at once, not at the next change or after 300 s")
    func abandonedWatchReleased() async throws {
        try await withCatalogServer { replica in
            let baseline = replica.server.waiterCount
            // A client opens a watch (parked: nothing changes) and goes away: cancelling the task
            // that owns the client resets the stream and closes its connection.
            let watching = Task {
                try await withCatalogClient(replica.grpc) { catalog in
                    try await catalog.watch(.with { $0.service = "web" }) { response in
                        for try await _ in response.messages {}
                    }
                }
            }
            try await waitForWaiters(replica, atLeast: baseline + 1)
            watching.cancel()
            _ = await watching.result
            // Released long before the watch's own 300 s wait, with no write to wake it.
            let deadline = ContinuousClock.now + .seconds(20)
            while replica.server.waiterCount > baseline {
                guard ContinuousClock.now < deadline else { throw TestFailure("the watch stayed parked") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}
